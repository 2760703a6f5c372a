// ffmpeg is started from a small child process of its own, never from the bot's. Node forks to
// spawn (libuv has no vfork path on Linux), and a fork write-protects every page of the forking
// process: after each ffmpeg the ASR worker, a thread of the bot, took ~35 000 page faults and ran
// 1.5× slower on the note that ffmpeg had just decoded (bench/baseline.ts measured it). Forked once
// at startup, while the bot is still small, this child spawns every ffmpeg at no cost to the model;
// ffmpeg writes the samples to a file that the bot reads once it is done (see ffmpeg.ts). The child
// leads a process group of its own, which its ffmpegs join: when it ends, for whatever reason, the
// group is killed, so that an ffmpeg stuck on its input cannot outlive it.
import { fork, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { decodeDeadlineMs } from './decode-deadline.js';
import { AudioError, type AudioFailure } from './errors.js';
import { decodeIntoFile, type DecodedAudio, type DecodeOptions } from './ffmpeg.js';

export type DecodeRequest = Omit<DecodeOptions, 'ffmpegPath'>;

/** What the pipeline needs to turn a file into samples: a PCM file, which the caller removes once done with it. */
export interface AudioDecoder {
  decode(inputPath: string, request: DecodeRequest): Promise<DecodedAudio>;
}

/** Decodes `inputPath`, hands the note to `use`, and removes its PCM file however `use` ends. */
export async function withDecodedAudio<T>(decoder: AudioDecoder, inputPath: string, request: DecodeRequest, use: (audio: DecodedAudio) => Promise<T>): Promise<T> {
  const audio = await decoder.decode(inputPath, request);
  try {
    return await use(audio);
  } finally {
    await rm(audio.pcmPath, { force: true });
  }
}

export type ToDecoder = { id: number; inputPath: string; pcmPath: string; options: DecodeOptions };
export type FromDecoder =
  | { id: number; type: 'end' }
  | { id: number; type: 'failed'; failure: AudioFailure; detail: string };

export interface DecoderProcessOptions {
  ffmpegPath: string;
  /** The child ended unasked (it is started again for the next decode). */
  onExit?: (detail: string) => void;
}

/** Past ffmpeg's own deadline (which the child enforces), what the child itself may take before it counts as stuck. */
const CHILD_GRACE_MS = 5_000;

/** It holds no audio, only ffmpeg's messages: a young generation of 1 MB is plenty. */
const SMALL_HEAP = ['--max-semi-space-size=1'];

function childEntry(): { url: URL; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  return { url: new URL(fromSource ? './decoder-child.ts' : './decoder-child.js', import.meta.url), execArgv: [...SMALL_HEAP, ...(fromSource ? ['--import', 'tsx'] : [])] };
}

/** Kills what is left of the child's process group: its ffmpegs, whether or not it ever said which. */
function killGroup(leader: number): void {
  try {
    process.kill(-leader, 'SIGKILL');
  } catch {
    // no one was left in it
  }
}

interface Pending {
  /** ffmpeg has written the note's file. */
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class DecoderProcess implements AudioDecoder {
  private child?: ChildProcess;
  private ready?: Promise<ChildProcess>;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: DecoderProcessOptions) {}

  /** Forks the child now, while this process is small; decode() would otherwise do it on first use. */
  async start(): Promise<void> {
    await this.spawn();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async decode(inputPath: string, request: DecodeRequest): Promise<DecodedAudio> {
    if (this.closed) throw new AudioError('decoder_failed', 'the decoder process is closed');
    const child = await this.spawn();
    const id = this.nextId++;
    const deadlineMs = (request.deadlineMs ?? decodeDeadlineMs(request.expectedSeconds ?? request.maxSeconds)) + CHILD_GRACE_MS;
    return decodeIntoFile(inputPath, request.maxSeconds, (pcmPath) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          // ffmpeg's own deadline did not fire: the child is stuck. Its other decodes fail with it (they are retried).
          child.kill('SIGKILL');
          this.settle(id, new AudioError('decoder_failed', `the decoder process gave no answer for ${inputPath} in ${deadlineMs} ms: killed`));
        }, deadlineMs);
        this.pending.set(id, { resolve, reject, timer });
        child.send({ id, inputPath, pcmPath, options: { ...request, ffmpegPath: this.options.ffmpegPath } } satisfies ToDecoder);
      }),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    this.child = undefined;
    this.ready = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  private spawn(): Promise<ChildProcess> {
    if (this.ready) return this.ready;
    const { url, execArgv } = childEntry();
    const child = fork(url, [], { execArgv, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
    this.child = child;
    child.on('message', (message: FromDecoder) => {
      this.settle(message.id, message.type === 'failed' ? new AudioError(message.failure, message.detail) : undefined);
    });
    child.once('exit', (code, signal) => {
      if (this.child === child) {
        this.child = undefined;
        this.ready = undefined;
      }
      if (child.pid !== undefined) killGroup(child.pid);
      const detail = `the decoder process exited (${signal ?? `code ${code}`})`;
      for (const id of this.pending.keys()) this.settle(id, new AudioError('decoder_failed', detail));
      if (!this.closed) this.options.onExit?.(detail);
    });
    this.ready = new Promise<ChildProcess>((resolve, reject) => {
      child.once('spawn', () => resolve(child));
      child.once('error', (error) => {
        this.ready = undefined;
        reject(new AudioError('decoder_failed', `could not start the decoder process: ${error.message}`));
      });
    });
    return this.ready;
  }

  /** Ends decode `id`: its file is written, or `error` says why not. */
  private settle(id: number, error?: Error): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (error) pending.reject(error);
    else pending.resolve();
  }
}
