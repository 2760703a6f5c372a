// Silero VAD on real audio (espeak-ng speech, sox silences, noise and sweeps), alone and in the
// real job wiring: pipeline, ASR pool with the test model, Telegram channel against the fake Bot API.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsrPool } from '../src/asr/pool.js';
import type { FromWorker } from '../src/asr/protocol.js';
import { decodeModel } from '../src/asr/graph-rewrite/onnx-graph.js';
import { sileroAsSequence } from '../src/asr/graph-rewrite/silero-sequence.js';
import { SileroVad, sileroModelPath } from '../src/asr/silero-vad.js';
import { findSpeech } from '../src/asr/vad-stage.js';
import { DEFAULT_VAD_OPTIONS } from '../src/asr/vad-segments.js';
import type { SpeechPlan } from '../src/asr/window-plan.js';
import { decodeToPcm } from '../src/audio/ffmpeg.js';
import { PcmReader, type PcmAudio } from '../src/audio/pcm-file.js';
import { Dispatcher } from '../src/jobs/dispatcher.js';
import { asJobError } from '../src/jobs/errors.js';
import { JobStore } from '../src/jobs/job-store.js';
import { openDatabase } from '../src/storage/database.js';
import { FakeBotApi } from './support/fake-bot-api.js';
import { localPipeline } from './support/local-pipeline.js';
import { knownNote, silentNote, synthNote, type KnownNote } from '../bench/known-speech.js';
import { cachedModelsRoot, TEST_MODEL_ID } from './support/test-model.js';

const RATE = 16_000;
const PAD = DEFAULT_VAD_OPTIONS.speechPadMs / 1000;
const work = mkdtempSync(path.join(os.tmpdir(), 'voicebot-vad-'));
let files = 0;

const decoded: PcmAudio[] = [];
async function pcm(ogg: Buffer): Promise<PcmAudio> {
  const file = path.join(work, `${files++}.ogg`);
  writeFileSync(file, ogg);
  const audio = await decodeToPcm(file, { ffmpegPath: 'ffmpeg', maxSeconds: 600 });
  decoded.push(audio);
  return audio;
}
afterAll(() => Promise.all(decoded.map((audio) => rm(audio.pcmPath, { force: true }))));

/** The note's time covered by the plan's pieces, in seconds [start, end). */
function pieces(plan: SpeechPlan): { start: number; end: number }[] {
  return plan.windows.flatMap((w) => w.pieces).map((p) => ({ start: p.offset / RATE, end: (p.offset + p.length) / RATE }));
}

function overlap(a: { start: number; end: number }, b: { start: number; end: number }): number {
  return Math.max(0, Math.min(a.end, b.end) - Math.max(a.start, b.start));
}

function silencesOf(note: KnownNote): { start: number; end: number }[] {
  const bounds = [0, ...note.speech.flatMap((s) => [s.start, s.end]), note.seconds];
  return Array.from({ length: bounds.length / 2 }, (_, i) => ({ start: bounds[2 * i]!, end: bounds[2 * i + 1]! }));
}

// The stage as the ASR worker runs it, here on the test's own thread.
let silero: SileroVad;
beforeAll(async () => {
  silero = await SileroVad.load(RATE);
});
afterAll(() => silero.release());
const findIn = (audio: PcmAudio) => findSpeech(silero, new PcmReader(audio), DEFAULT_VAD_OPTIONS, RATE);

describe('speech found in notes made of sentences and known silences', () => {
  it('covers ≥ 95% of the speech, and each segment starts and ends within 250 ms of a sentence (plus its 400-ms pad)', async () => {
    const note = knownNote([
      { pause: 1.5 },
      { say: 'Hello, this is the first sentence of the note.' },
      { pause: 3 },
      { say: 'And here comes a second one, a little longer than the first, with a comma in it.' },
      { pause: 2.5 },
      { say: 'Short one.' },
      { pause: 4 },
      { say: 'The last sentence ends the note, and three seconds of silence follow.' },
      { pause: 3 },
    ]);
    const plan = await findIn(await pcm(note.ogg));
    const found = pieces(plan);
    expect(found).toHaveLength(note.speech.length);
    note.speech.forEach((sentence, i) => {
      expect(Math.abs(found[i]!.start - Math.max(0, sentence.start - PAD)), `start of sentence ${i}`).toBeLessThanOrEqual(0.25);
      expect(Math.abs(found[i]!.end - Math.min(note.seconds, sentence.end + PAD)), `end of sentence ${i}`).toBeLessThanOrEqual(0.25);
    });
    const speech = note.speech.reduce((sum, s) => sum + s.end - s.start, 0);
    const covered = note.speech.reduce((sum, s) => sum + found.reduce((c, f) => c + overlap(s, f), 0), 0);
    expect(covered / speech).toBeGreaterThanOrEqual(0.95);
    expect(plan.speechSeconds).toBeCloseTo(found.reduce((sum, f) => sum + f.end - f.start, 0), 3);
  });

  it('cuts a 90-s monologue with pauses into windows of at most 30 s, every cut inside a known silence, no sentence cut', async () => {
    const sentences = [
      'Good morning everyone, thank you for coming to this meeting so early.',
      'Today I want to talk about the new delivery schedule.',
      'As you know, the trucks have been late three times this month.',
      'That is not acceptable for our customers.',
      'So we looked at the routes again, one by one.',
      'The main problem is the bridge on the north road.',
      'It is closed every morning between seven and nine.',
      'From next week, the first truck will leave at six instead.',
      'The second truck will take the long road through the valley.',
      'It adds twenty minutes, but it never waits at the bridge.',
      'We will check the results at the end of the month.',
      'If the new plan works, we will keep it for the winter as well.',
      'The drivers already agreed to start one hour earlier on those days.',
      'Our warehouse team will need to load the first truck the evening before.',
      'Maria will prepare the loading lists and share them every day at four.',
      'If you have questions, please send them to me by email.',
      'Thank you, and have a good day.',
    ];
    // Pauses under VAD_MIN_SILENCE_MS (2 s) stay inside segments; longer ones may be cut at.
    const pauses = [0.8, 2.6, 1.2, 3.5, 0.6, 3.2, 2.2, 1.0, 3.0, 3.6, 0.9, 2.8, 1.5, 3.2, 0.7, 2.4];
    const note = knownNote(sentences.flatMap((say, i) => [{ say }, { pause: pauses[i] ?? 1 }]));
    expect(note.seconds).toBeGreaterThan(85);
    expect(note.seconds).toBeLessThan(95);

    const plan = await findIn(await pcm(note.ogg));
    expect(plan.windows.length).toBeGreaterThanOrEqual(2);
    for (const w of plan.windows) {
      expect(w.length / RATE).toBeLessThanOrEqual(30);
      expect(w.strideLeft + w.strideRight).toBe(0);
    }
    const silences = silencesOf(note);
    const found = pieces(plan);
    // Where Whisper's audio jumps: between windows, and inside a window where a silence was dropped.
    const boundaries = found.flatMap((p) => [p.start, p.end]).filter((t) => t > 0 && t < note.seconds - 0.01);
    for (const t of boundaries) expect(silences.some((s) => s.start <= t && t <= s.end), `boundary at ${t.toFixed(2)} s`).toBe(true);
    for (const s of note.speech) expect(found.some((p) => p.start <= s.start && s.end <= p.end), `sentence at ${s.start.toFixed(2)} s`).toBe(true);
  });
});

describe('Silero VAD scoring many frames per run', () => {
  it('gives the published graph\'s probabilities, frame for frame, across runs and notes', async () => {
    const published = await SileroVad.load(RATE, 'published');
    try {
      expect(silero.loadNote).toMatch(/stretch of frames per run/);
      expect(published.loadNote).toMatch(/published graph/);
      const talk = knownNote([{ pause: 0.7 }, { say: 'Frames in runs of many, and one frame at a time, must agree.' }, { pause: 2.2 }, { say: 'Even across the runs.' }]);
      // Two notes in a row: the state and context are reset between them, as the worker does.
      // The noise is read a run at a time (4 s for the rewritten graph), the last ending in part of a run.
      for (const audio of [await pcm(talk.ogg), await pcm(synthNote(['pinknoise'], 45, -30))]) {
        silero.reset();
        published.reset();
        const reader = new PcmReader(audio);
        const [many, one] = [await silero.score(reader), await published.score(reader)];
        reader.close();
        expect(many.length).toBe(Math.ceil(audio.sampleCount / 512));
        expect(many.length).toBeGreaterThan(128 * 2);
        let worst = 0;
        for (let i = 0; i < one.length; i++) worst = Math.max(worst, Math.abs(many[i]! - one[i]!));
        expect(worst).toBeLessThan(1e-6);
      }
    } finally {
      await published.release();
    }
  });

  it('leaves a graph that is not Silero v5\'s as it is, and says why', () => {
    const original = readFileSync(sileroModelPath());
    const renamed = decodeModel(original);
    renamed.graph!.input![2]!.name = 'rate';
    expect(sileroAsSequence(renamed)).toEqual({ applied: false, reason: expect.stringMatching(/inputs input,state,rate/) });
    const eightKhz = decodeModel(original);
    const rate = eightKhz.graph!.node!.find((n) => n.opType === 'Constant')!.attribute![0]!.t!;
    rate.rawData = new Uint8Array(new BigInt64Array([8000n]).buffer);
    rate.int64Data = [];
    expect(sileroAsSequence(eightKhz)).toEqual({ applied: false, reason: expect.stringMatching(/sr == 16000/) });
  });

  it('refuses audio that is not 16 kHz with a reason, instead of scoring it wrongly', async () => {
    await expect(SileroVad.load(8000)).rejects.toThrow(/16 kHz/);
  });
});

describe('Silero VAD in the ASR worker', () => {
  it('plans the windows where the samples already are, and a stop mid-note does not take the process down', async () => {
    const pool = new AsrPool({
      size: 1,
      init: { modelId: TEST_MODEL_ID, modelsDir: await cachedModelsRoot(), dtype: 'q8', threads: 1, cpuArena: false, vad: DEFAULT_VAD_OPTIONS },
      maxTasksPerWorker: 0,
      recycleRssMb: 0,
    });
    await pool.start();
    const request = { language: 'en', task: 'transcribe' as const, timestamps: false };
    const note = knownNote([{ pause: 1 }, { say: 'A short sentence between two pauses.' }, { pause: 3 }]);
    const spoken = await pool.transcribe(await pcm(note.ogg), request);
    expect(spoken.speech!.windows).toHaveLength(1);
    expect(spoken.speech!.speechSeconds!).toBeLessThan(note.seconds - 2);
    expect(spoken.result.decoderRuns).toBeGreaterThan(0);

    const silent = await pool.transcribe(await pcm(silentNote(20)), request);
    expect(silent.speech).toMatchObject({ windows: [], speechExtent: null });
    expect(silent.result).toMatchObject({ decoderRuns: 0, chunks: 0, text: '' });

    // Eight minutes of frames for Silero, then a sentence for Whisper: the stop lands mid-note.
    const long = knownNote([{ pause: 480 }, { say: 'A sentence after eight minutes of silence.' }]);
    const cut = pool.transcribe(await pcm(long.ogg), request).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await pool.close();
    expect(asJobError(await cut, 'asr_failed')).toMatchObject({ code: 'asr_failed', retryable: true });
  });
});

describe('notes without speech, in the real job wiring', () => {
  const api = new FakeBotApi();
  let pool: AsrPool;
  let store: JobStore;
  let dispatcher: Dispatcher;
  let closeDb: () => void;
  /** Whisper runs: results (or failures) the ASR worker sent back. */
  let whisperRuns = 0;
  let nextMessage = 1;

  beforeAll(async () => {
    await api.start();
    const db = openDatabase(path.join(work, 'voicebot.sqlite'));
    closeDb = () => db.$client.close();
    store = new JobStore(db);
    pool = new AsrPool({
      size: 1,
      init: { modelId: TEST_MODEL_ID, modelsDir: await cachedModelsRoot(), dtype: 'q8', threads: 1, cpuArena: false, vad: DEFAULT_VAD_OPTIONS },
      maxTasksPerWorker: 0,
      recycleRssMb: 0,
      onSpawn: (worker) =>
        worker.on('message', (m: FromWorker) => {
          // The worker answers a note without speech too, with a result Whisper took no part in.
          if ((m.type === 'result' && m.result.decoderRuns > 0) || m.type === 'failed') whisperRuns++;
        }),
    });
    await pool.start();
    const log = pino({ level: 'silent' });
    const pipeline = localPipeline({ api, store, pool, speech: null, log });
    dispatcher = new Dispatcher({ store, concurrency: 1, leaseMs: 60_000, run: (job) => pipeline.run(job), workersReady: () => pool.readyWorkers > 0, memoryAllowsMore: () => true, onQueueDepth: () => {}, log });
    dispatcher.start();
  });

  afterAll(async () => {
    await dispatcher.drain(1_000);
    await pool.close();
    await api.stop();
    closeDb();
  });

  async function transcribe(ogg: Buffer, timestamps = false) {
    const file = api.addFile(ogg);
    const messageId = nextMessage++;
    const job = store.insert({ chatId: 1, chatType: 'private', messageId, userId: 1, fileId: file.file_id, fileUniqueId: file.file_unique_id, mediaKind: 'voice', timestamps, createdAt: Date.now() - 10_000 })!;
    dispatcher.poke();
    const row = await api.waitFor(() => ['done', 'failed'].includes(store.get(job.id)!.status) && store.get(job.id), 90_000, `job ${job.id} to finish`);
    const reply = await api.waitFor(() => api.repliesTo(1, messageId).find((m) => !/^(⏳|🎧)/.test(m.text)), 10_000, `the answer to message ${messageId}`);
    return { row, reply: reply.text };
  }

  it.each([
    { name: 'white noise at −30 dBFS', make: () => synthNote(['whitenoise'], 30, -30) },
    { name: 'pink noise at −30 dBFS', make: () => synthNote(['pinknoise'], 30, -30) },
    { name: 'a sine sweep 100 Hz–8 kHz at −10 dBFS', make: () => synthNote(['sine', '100-8000'], 30, -10) },
    { name: '60 s of silence', make: () => silentNote(60) },
  ])('$name: at most 2 percent called speech, answered "No speech detected", Whisper not run', async ({ make }) => {
    const before = whisperRuns;
    const { row, reply } = await transcribe(make());
    expect(reply).toMatch(/No speech detected/);
    expect(row).toMatchObject({ status: 'done', errorCode: 'no_speech', inferenceMs: null });
    expect(row.speechSeconds! / row.audioSeconds!).toBeLessThanOrEqual(0.02);
    expect(row.vadMs).toBeGreaterThan(0);
    expect(whisperRuns).toBe(before);
  });

  it('a note with a 20-s pause: Whisper runs once, without the pause, and its times are on the note\'s timeline', async () => {
    const note = knownNote([
      { pause: 0.5 },
      { say: 'The first half of this note is said before a long pause.' },
      { pause: 20 },
      { say: 'And the second half comes twenty seconds later, at the end.' },
      { pause: 0.5 },
    ]);
    const before = whisperRuns;
    const { row, reply } = await transcribe(note.ogg, true);
    expect(whisperRuns).toBe(before + 1);
    expect(row.status).toBe('done');
    const speech = note.speech.reduce((sum, s) => sum + s.end - s.start, 0);
    expect(row.speechSeconds!).toBeGreaterThan(speech);
    expect(row.speechSeconds!).toBeLessThan(speech + 4 * PAD + 0.5);

    const marks = [...reply.matchAll(/^\[(\d\d):(\d\d)\]/gm)].map((m) => Number(m[1]) * 60 + Number(m[2]));
    expect(marks.length).toBeGreaterThan(0);
    // [mm:ss] marks are floored to whole seconds; every one falls on (padded) speech, none in the pause.
    for (const t of marks) expect(note.speech.some((s) => s.start - PAD - 1 <= t && t <= s.end + PAD), `mark at ${t} s in ${reply}`).toBe(true);
    expect(Math.max(...marks)).toBeGreaterThanOrEqual(note.speech[1]!.start - PAD - 1);
  });
});
