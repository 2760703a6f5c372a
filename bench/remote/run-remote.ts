// npm run bench -- --remote-workers N: the embedded pool against 1..N worker processes through
// BullMQ on a local Redis, with the same total threads (vCPUs × 1-thread workers), on the same notes
// downloaded from a loopback Bot API: throughput (audio seconds per second over a burst of notes),
// and what the queue adds to each note (enqueue → worker start, and end to end against embedded).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { percentiles } from '../../src/jobs/job-stats.js';
import type { TranscriptionRequest } from '../../src/jobs/transcriber.js';
import { parseQueueUrl } from '../../src/queue/endpoint.js';
import { RemoteTranscriber } from '../../src/queue/remote-transcriber.js';
import { freePort, RedisServer } from '../redis-server.js';
import { cpuModel } from '../tier.js';
import { drive, type DriveResult, type NoteTiming } from './drive.js';
import { BENCH_TOKEN, ClipServer } from './file-server.js';

export interface RemoteBenchOptions {
  root: string;
  /** Worker processes of the largest fleet measured (1..N are). */
  maxProcesses: number;
  /** Threads in all, each fleet's and the embedded pool's: one per ASR worker. */
  threads: number;
  model: { name: string; modelId: string; modelsDir: string; synthetic: boolean };
  clips: { file: string; seconds: number }[];
  /** Notes in the burst, and then one at a time. */
  burst: number;
  sequential: number;
  /** Every mode is measured this many times, the modes taking turns: medians are reported. */
  rounds: number;
  tokensPerSecond: number | null;
  out?: string;
}

interface Summary {
  p50: number;
  p95: number;
}

interface ModeResult {
  mode: string;
  processes: number;
  workersPerProcess: number;
  runs: DriveResult[];
  /** Audio seconds per second: each round's, and their median. */
  throughput: { median: number; rounds: number[] };
  /** Against the embedded pool's median. */
  throughputRatio: number;
  /** Over every round's notes: to an idle fleet (one at a time), and in the burst (behind other notes). */
  enqueueToStartMs: { idle: Summary; burst: Summary } | null;
  /** Notes one at a time, end to end, against the embedded pool's (every round's notes). */
  addedPerNoteMs: Summary;
}

const summary = (values: number[]): Summary => {
  const { p50, p95 } = percentiles(values);
  return { p50, p95 };
};

/** A compiled process of this repository, and its stdout lines. */
function launch(root: string, script: string, args: string[], env: Record<string, string>): { child: ChildProcess; lines: string[] } {
  const child = spawn(process.execPath, [path.join(root, script), ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  return { child, lines };
}

function waitForLine(proc: { child: ChildProcess; lines: string[] }, match: (line: string) => boolean, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const line = proc.lines.find(match);
      if (line) {
        clearInterval(timer);
        resolve(line);
      } else if (proc.child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`${what}: the process exited with ${proc.child.exitCode}:\n${proc.lines.slice(-20).join('\n')}`));
      }
    }, 50);
  });
}

function stopped(child: ChildProcess): Promise<void> {
  return child.exitCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** The share of CPU time others used over `ms` before the bench starts: the load average remembers a minute, this does not. */
async function busyShare(ms: number): Promise<number> {
  const sample = () => {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { idle: fields[3]! + fields[4]!, total: fields.reduce((sum, n) => sum + n, 0) };
  };
  const before = sample();
  await sleep(ms);
  const after = sample();
  return 1 - (after.idle - before.idle) / Math.max(1, after.total - before.total);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function summarize(mode: string, processes: number, workersPerProcess: number, runs: DriveResult[], embedded?: ModeResult): ModeResult {
  const rounds = runs.map((r) => r.audioSecondsPerSecond);
  const notes = (pick: (r: DriveResult) => NoteTiming[]) => runs.flatMap(pick);
  const queued = (list: NoteTiming[]) => list.map((n) => n.queuedMs).filter((ms): ms is number => ms !== null);
  const mine = summary(notes((r) => r.sequential).map((n) => n.totalMs));
  const theirs = embedded ? summary(embedded.runs.flatMap((r) => r.sequential).map((n) => n.totalMs)) : mine;
  return {
    mode,
    processes,
    workersPerProcess,
    runs,
    throughput: { median: median(rounds), rounds },
    throughputRatio: embedded ? median(rounds) / embedded.throughput.median : 1,
    enqueueToStartMs: processes > 0 ? { idle: summary(queued(notes((r) => r.sequential))), burst: summary(queued(notes((r) => r.burst))) } : null,
    addedPerNoteMs: { p50: mine.p50 - theirs.p50, p95: mine.p95 - theirs.p95 },
  };
}

function report(modes: ModeResult[]): string {
  const ms = (s: Summary) => `${Math.round(s.p50)} / ${Math.round(s.p95)}`;
  const rows = modes.map((m) => {
    const shape = m.processes === 0 ? `1 process, ${m.workersPerProcess}×1` : `${m.processes} × (${m.workersPerProcess}×1)`;
    const rounds = m.throughput.rounds.map((r) => r.toFixed(2)).join(', ');
    const queued = m.enqueueToStartMs ? `${ms(m.enqueueToStartMs.idle)} | ${ms(m.enqueueToStartMs.burst)}` : '— | —';
    return `| ${m.mode} | ${shape} | ${m.throughput.median.toFixed(2)} (${rounds}) | ${m.throughputRatio.toFixed(3)} | ${queued} | ${m.processes === 0 ? '—' : ms(m.addedPerNoteMs)} |`;
  });
  return [
    '| mode | processes × (workers × threads) | audio s / s, median (each round) | × embedded | enqueue → worker start, idle (ms p50 / p95) | enqueue → worker start, in the burst | added per note, end to end |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

export async function runRemoteBench(options: RemoteBenchOptions): Promise<{ out: string; text: string }> {
  const { root, model, threads } = options;
  // Others' work before the bench starts: the figures are then for their ratios only.
  const busyBefore = await busyShare(3_000);
  const clips = new ClipServer();
  for (const clip of options.clips) clips.add(`clip-${clip.seconds}s`, clip.file);
  const apiRoot = await clips.start();
  const createdAt = Date.now();
  const requests: TranscriptionRequest[] = Array.from({ length: options.burst }, (_, i) => {
    const clip = options.clips[i % options.clips.length]!;
    return {
      jobId: i + 1,
      createdAt,
      fileId: `clip-${clip.seconds}s`,
      claimedSeconds: clip.seconds,
      language: null,
      task: 'transcribe',
      timestamps: false,
      ...(options.tokensPerSecond ? { fixedTokensPerSecond: options.tokensPerSecond } : {}),
    };
  });
  const env = (workers: number): Record<string, string> => ({
    BOT_TOKEN: BENCH_TOKEN,
    TELEGRAM_API_ROOT: apiRoot,
    WHISPER_MODEL: model.modelId,
    MODELS_DIR: model.modelsDir,
    DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'voicebot-bench-remote-')),
    ASR_WORKERS: String(workers),
    ASR_THREADS: '1',
    // Random weights fail every temperature, which real models rarely do (as in the main bench).
    ...(model.synthetic ? { ASR_TEMPERATURE_FALLBACK: 'false' } : {}),
    MAX_AUDIO_SECONDS: '3600',
    HTTP_PORT: '0',
    LOG_LEVEL: 'info',
    NODE_ENV: 'production',
  });
  const fleets = Array.from({ length: options.maxProcesses }, (_, i) => i + 1).filter((n) => Math.floor(threads / n) >= 1);
  const runs = new Map<number, DriveResult[]>([0, ...fleets].map((n) => [n, []]));

  const password = randomBytes(16).toString('hex');
  const redis = new RedisServer({ port: await freePort(), password });
  await redis.start();
  try {
    for (let round = 1; round <= options.rounds; round++) {
      // Each round's notes are new jobs: a queued job's id is never reused.
      const plan = { requests: requests.map((r) => ({ ...r, createdAt: createdAt + round })), sequential: options.sequential, warmup: threads };
      console.error(`remote bench, round ${round}/${options.rounds}: embedded pool, ${threads}×1…`);
      const embeddedProc = launch(root, 'dist/bench/remote/embedded.js', [JSON.stringify(plan)], env(threads));
      runs.get(0)!.push(JSON.parse((await waitForLine(embeddedProc, (l) => l.startsWith('EMBEDDED '), 'the embedded pool')).slice('EMBEDDED '.length)) as DriveResult);
      await stopped(embeddedProc.child);

      for (const processes of fleets) {
        const perProcess = Math.floor(threads / processes);
        console.error(`remote bench, round ${round}/${options.rounds}: ${processes} worker process(es) × ${perProcess}×1 through Redis…`);
        const queueName = `bench-${processes}`;
        const workers = Array.from({ length: processes }, () => launch(root, 'dist/src/main.js', [], { ...env(perProcess), ROLE: 'worker', QUEUE_URL: redis.url(), QUEUE_NAME: queueName }));
        try {
          await Promise.all(workers.map((w) => waitForLine(w, (l) => l.includes('"msg":"taking transcription jobs"'), 'a worker')));
          const remote = new RemoteTranscriber({ endpoint: parseQueueUrl(redis.url()), queueName, limits: { maxAudioSeconds: 3600, maxFileMb: 20 }, log: pino({ level: 'silent' }) });
          try {
            // As ROLE=bot with REMOTE_MAX_IN_FLIGHT at least the burst: every note handed over at once.
            runs.get(processes)!.push(await drive(remote, { ...plan, concurrency: options.burst }));
          } finally {
            await remote.close();
          }
        } finally {
          for (const w of workers) w.child.kill('SIGTERM');
          await Promise.all(workers.map((w) => stopped(w.child)));
        }
      }
    }
  } finally {
    await redis.destroy();
    await clips.stop();
  }

  const embedded = summarize('embedded', 0, threads, runs.get(0)!);
  const modes = [embedded, ...fleets.map((n) => summarize(`${n} worker process(es)`, n, Math.floor(threads / n), runs.get(n)!, embedded))];
  const shared = busyBefore > 0.25;
  const results = {
    schema: 'voicebot-bench-remote/1',
    createdAt: new Date().toISOString(),
    machine: { vcpus: os.availableParallelism(), cpuModel: cpuModel(), cpuBusyBefore: busyBefore, loadAverageAfter: os.loadavg()[0], shared },
    settings: {
      model: model.name,
      synthetic: model.synthetic,
      threads,
      clips: options.clips.map((c) => c.seconds),
      burst: options.burst,
      sequential: options.sequential,
      rounds: options.rounds,
      tokensPerSecond: options.tokensPerSecond,
    },
    modes,
  };
  const folder = path.join(root, 'bench/results', shared ? 'shared-load' : '');
  const out = options.out ?? path.join(folder, `remote-${model.name}-${threads}threads-${results.createdAt.replace(/[:.]/g, '-')}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  const header =
    `${model.name}${model.synthetic ? ' (synthetic)' : ''}, ${threads} thread(s) in all; ${options.rounds} round(s) of: a burst of ${options.burst} notes ` +
    `(${options.clips.map((c) => `${c.seconds} s`).join(', ')}), then ${options.sequential} one at a time; CPU ${Math.round(busyBefore * 100)}% busy before` +
    (shared ? ' (shared machine: compare the ratios, not the absolute figures)' : '');
  return { out, text: `${header}\n\n${report(modes)}` };
}
