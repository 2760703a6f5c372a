// npm run bench -- [--calibrate | --baseline bare | --remote-workers N] [--quick] [--models base,small] [--shapes 1x1,1x2,2x1] [--dtypes q8,int8,fp32-encoder]
//                  [--encoder fused,unfused,fused-fit] [--clips 5,9,15,30,60,180] [--soak 1000] [--cpus N | --tier 1gb-swap-1vcpu] [--out file.json]
// RTF and memory of the real pipeline (ffmpeg decode + worker pool + int8 Whisper) on this machine.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeCalibration } from '../src/asr/calibration.js';
import { MODEL_CATALOG } from '../src/asr/catalog.js';
import { defaultPoolShape, rtfAt10s, tableRtf } from '../src/asr/model-choice.js';
import { SPEED_SAMPLES } from '../src/asr/speed-table.js';
import { missingModelFiles } from '../src/asr/model-store.js';
import { vcpus } from '../src/machine.js';
import { CORPUS, corpusFiles } from './corpus.js';
import { WINDOW_DEFAULTS } from '../src/asr/encoder-window.js';
import type { EncoderSettings } from '../src/asr/protocol.js';
import type { BaselineInput, BaselineResult } from './baseline.js';
import { formatBaseline } from './baseline-report.js';
import { runRemoteBench } from './remote/run-remote.js';
import type { MeasureInput } from './measure.js';
import { formatReport } from './report.js';
import { REFERENCE, validateResults, type BenchResults, type RunResult } from './results.js';
import { synthesizeModel, type Dtype, type Preset } from './synth/model-folder.js';
import { describeTier, parseTier, TierEmulation } from './tier.js';
import { imageMalloc } from './image-malloc.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BENCH_DTYPES = ['q8', 'int8', 'fp32-encoder'] as const;
const IMAGE_MALLOC = imageMalloc(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
/**
 * What each memory profile sets: onnxruntime's arena, weights mapped from the model files or copied
 * (ASR_MAP_WEIGHTS), cross-attention keys/values apart or in the decoder (ASR_CROSS_ATTENTION_APART),
 * and glibc's malloc settings (env, at process start). `default-copied` and `default-in-decoder` are
 * the default as it was before weights were mapped, and before cross-attention was computed apart,
 * to compare them in one run.
 */
const MEMORY_PROFILES: Record<string, { cpuArena: boolean; mapWeights: boolean; crossAttentionApart: boolean; env: Record<string, string> }> = {
  lean: { cpuArena: false, mapWeights: true, crossAttentionApart: true, env: { ...IMAGE_MALLOC, MALLOC_MMAP_THRESHOLD_: '131072' } },
  default: { cpuArena: false, mapWeights: true, crossAttentionApart: true, env: IMAGE_MALLOC },
  'default-copied': { cpuArena: false, mapWeights: false, crossAttentionApart: true, env: IMAGE_MALLOC },
  'default-in-decoder': { cpuArena: false, mapWeights: true, crossAttentionApart: false, env: IMAGE_MALLOC },
  fast: { cpuArena: true, mapWeights: true, crossAttentionApart: true, env: IMAGE_MALLOC },
};
/** `--encoder` variants: attention fused at load or the hub's graph as it is; 30-s windows or fitted to the note. */
const ENCODER_VARIANTS: Record<string, EncoderSettings> = {
  fused: { fusedAttention: true, window: { mode: 'full', ...WINDOW_DEFAULTS } },
  unfused: { fusedAttention: false, window: { mode: 'full', ...WINDOW_DEFAULTS } },
  'fused-fit': { fusedAttention: true, window: { mode: 'fit', ...WINDOW_DEFAULTS } },
  'unfused-fit': { fusedAttention: false, window: { mode: 'fit', ...WINDOW_DEFAULTS } },
};
/** Synthetic weights never stop on their own: decode this many tokens per second of audio. */
const DEFAULT_TOKENS_PER_SECOND = 3;

/** --calibrate: base, as the bot's default pool shape runs it, on the two clips a 10-s note lies between. */
const CALIBRATION_MODEL = 'base';

const usage = `npm run bench -- [options]
  --calibrate             measure this machine (< 2 min): base on the bot's pool shape, 9-s and 15-s notes;
                          writes $DATA_DIR/calibration.json, which WHISPER_MODEL=auto then prefers to the tables
  --baseline bare         instead: the project beside a bare onnxruntime loop on the same files, interleaved
                          in one process (ratios of decoder ms/token and note total), with beam 5 and
                          fallback costs; default clip 9 s, 3 runs, 2 threads (or --shapes' first), memory default
  --remote-workers N      instead: the embedded pool against 1..N worker processes (ROLE=worker) through BullMQ
                          on a local redis-server, same total threads (vCPUs, one per ASR worker): throughput
                          over a burst of notes and what the queue adds per note; default base, clips 9,15,
                          3 rounds of 24 notes then 8 one at a time (--quick: tiny, 1 round of 6 then 3)
  --quick                 smallest model, one pool shape, short clips, one run each (< 2 min on 2 cores)
  --models LIST           tiny,base,small,medium or hub ids (default base,small)
  --shapes LIST           workers x threads, e.g. 1x1,1x2,2x1 (default: those that fit the vCPUs)
  --dtypes LIST           ${BENCH_DTYPES.join(', ')} (default q8)
  --memory LIST           ${Object.keys(MEMORY_PROFILES).join(', ')} (default lean,fast): see README, Memory
  --encoder LIST          ${Object.keys(ENCODER_VARIANTS).join(', ')} (default fused, the bot's default)
  --clips LIST            seconds from ${CORPUS.map((c) => c.seconds).join(',')} (default all but ${CORPUS.filter((c) => c.onRequest).map((c) => c.seconds).join(',')})
  --soak N                then N notes of the shortest clip in a row: peak RSS of notes 11–100 vs the last 100
  --repeat N              measure each configuration N times, a process each, and report its peaks run by run
                          (they move by 10–20 MB between runs of the same code)
  --tokens-per-second N   fixed decode budget for synthetic models (default ${DEFAULT_TOKENS_PER_SECOND})
  --cpus N                pin the measuring processes to N CPUs (memory limits are not emulated)
  --tier NAME             as root: emulate e.g. 1gb-swap-1vcpu (swap file + memory cgroup + CPU pinning)
  --out FILE              results file (default bench/results/<tier>-<timestamp>.json)
Real models are used when MODELS_DIR holds them; otherwise synthetic ones at real dimensions.`;

const { values } = parseArgs({
  options: {
    calibrate: { type: 'boolean', default: false },
    baseline: { type: 'string' },
    'remote-workers': { type: 'string' },
    quick: { type: 'boolean', default: false },
    models: { type: 'string' },
    shapes: { type: 'string' },
    dtypes: { type: 'string', default: 'q8' },
    memory: { type: 'string' },
    encoder: { type: 'string', default: 'fused' },
    clips: { type: 'string' },
    soak: { type: 'string', default: '0' },
    repeat: { type: 'string', default: '1' },
    'tokens-per-second': { type: 'string', default: String(DEFAULT_TOKENS_PER_SECOND) },
    cpus: { type: 'string' },
    tier: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean' },
  },
});
function fail(message: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}

const tierSpec = values.tier ? (parseTier(values.tier) ?? fail(`--tier: expected e.g. 1gb-swap-1vcpu or 2gb-2vcpu, got ${values.tier}`)) : undefined;
const cpus = tierSpec?.cpus ?? (values.cpus ? Number(values.cpus) : undefined);
if (cpus !== undefined && !(Number.isInteger(cpus) && cpus >= 1 && cpus <= vcpus())) fail(`--cpus: 1 to ${vcpus()}`);
const available = cpus ?? vcpus();

if (values.calibrate && (values.models || values.shapes || values.memory || values.clips || values.quick || values.soak !== '0' || values.repeat !== '1' || values.tier || values.out)) {
  fail('--calibrate measures one fixed configuration into $DATA_DIR: combine it with --cpus only');
}
const calibrationShape = defaultPoolShape(available);
const models = (values.models ?? (values.calibrate ? CALIBRATION_MODEL : values.quick ? 'tiny' : 'base,small')).split(',');
const shapes = (values.shapes ?? (values.calibrate ? `1x${calibrationShape.threads}` : values.quick ? `1x${Math.min(2, available)}` : '1x1,1x2,2x1'))
  .split(',')
  .map((s) => {
    const [w, t] = s.split('x').map(Number);
    if (!w || !t) fail(`--shapes: expected WxT, got ${s}`);
    return { workers: w, threads: t };
  })
  .filter((s) => s.workers * s.threads <= available);
if (shapes.length === 0) fail(`--shapes: none fits ${available} vCPU(s)`);
const dtypes = values.dtypes.split(',');
for (const d of dtypes) if (!(BENCH_DTYPES as readonly string[]).includes(d)) fail(`--dtypes: unknown ${d}`);
// Calibration runs the compose file's profile, the one the bot runs in production.
const memoryProfiles = (values.memory ?? (values.calibrate ? 'default' : values.quick ? 'lean' : 'lean,fast')).split(',');
for (const m of memoryProfiles) if (!MEMORY_PROFILES[m]) fail(`--memory: unknown profile ${m}`);
const encoders = values.encoder.split(',');
for (const e of encoders) if (!ENCODER_VARIANTS[e]) fail(`--encoder: unknown variant ${e}`);
const clipSeconds = values.clips ? values.clips.split(',').map(Number) : values.calibrate ? [9, 15] : values.quick ? [5, 9, 15] : CORPUS.filter((c) => !c.onRequest).map((c) => c.seconds);
const clipSpecs = CORPUS.filter((c) => clipSeconds.includes(c.seconds));
if (clipSpecs.length === 0) fail('--clips: none of those lengths is in the corpus');
const tokensPerSecond = Number(values['tokens-per-second']);
if (values.baseline !== undefined && values.baseline !== 'bare') fail('--baseline: only "bare" exists');
const remoteWorkers = values['remote-workers'] === undefined ? undefined : Number(values['remote-workers']);
if (remoteWorkers !== undefined && !(Number.isInteger(remoteWorkers) && remoteWorkers >= 1 && remoteWorkers <= available)) fail(`--remote-workers: 1 to ${available} (each process needs a thread)`);
if (remoteWorkers !== undefined && (values.baseline || values.calibrate || cpus !== undefined)) fail('--remote-workers: not with --baseline, --calibrate, --cpus or --tier (its processes are not pinned)');
const soak = Number(values.soak);
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 1) fail(`--repeat: a whole number of runs, at least 1 (got ${values.repeat})`);
if (repeat > 1 && (values.baseline || values['remote-workers'])) fail('--repeat: for the tier tables only, not with --baseline or --remote-workers');
if (!(Number.isInteger(soak) && (soak === 0 || soak >= 20))) fail('--soak: 0, or at least 20 notes');

/** Real models from MODELS_DIR when all their files are there; otherwise synthetic ones, generated once. */
async function resolveModel(name: string): Promise<{ modelId: string; modelsDir: string; synthetic: boolean }> {
  const known = MODEL_CATALOG.find((m) => m.name === name);
  const hubId = known?.hubId ?? name;
  const modelsDir = path.resolve(process.env.MODELS_DIR ?? path.join(ROOT, 'models'));
  const needed = dtypes.flatMap((d) => (d === 'fp32-encoder' ? ['fp32', 'q8'] : [d]));
  const missing = (await Promise.all(needed.map((d) => missingModelFiles(modelsDir, hubId, d)))).flat();
  if (missing.length === 0) return { modelId: hubId, modelsDir, synthetic: false };
  if (!known) fail(`${name}: not in MODELS_DIR and no synthetic preset by that name`);
  const synthRoot = path.join(ROOT, '.cache/bench-models');
  const modelId = `voicebot-synthetic/whisper-${name}`;
  const dir = path.join(synthRoot, ...modelId.split('/'));
  const synthDtypes = [...new Set(needed)] as Dtype[];
  const absent = (await Promise.all(synthDtypes.map((d) => missingModelFiles(synthRoot, modelId, d)))).flat();
  if (absent.length > 0) {
    console.error(`synthesizing ${name} (${synthDtypes.join(', ')}) at real dimensions…`);
    await synthesizeModel({ preset: name as Preset, out: dir, dtypes: synthDtypes });
  }
  return { modelId, modelsDir: synthRoot, synthetic: true };
}

const emulation = tierSpec ? new TierEmulation() : undefined;
function cleanup(): void {
  emulation?.undo();
}
if (emulation) {
  const why = TierEmulation.available();
  if (why) fail(`--tier: ${why}`);
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));
  emulation.apply(tierSpec!);
}

/** Measures compiled code, as production runs it: tsx would add its own memory to every figure. */
function runChild(input: MeasureInput, env: Record<string, string>): Promise<RunResult> {
  return runScript<RunResult>('measure', 'RESULT ', input, env);
}

function runScript<T>(script: string, marker: string, input: object, env: Record<string, string>): Promise<T> {
  const node = [process.execPath, path.join(ROOT, `dist/bench/${script}.js`), JSON.stringify(input)];
  const command = cpus ? ['taskset', '-c', `0-${cpus - 1}`, ...node] : node;
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    emulation?.adopt(child.pid!);
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.on('exit', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith(marker));
      if (code === 0 && line) resolve(JSON.parse(line.slice(marker.length)) as T);
      else reject(new Error(`exited with ${signal ?? code}${code === 137 || signal === 'SIGKILL' ? ' (killed: out of memory?)' : ''}`));
    });
  });
}

const appliedEmulation = emulation ? `${values.tier}: ${emulation.applied.join(', ')}, CPUs pinned to ${cpus}` : cpus ? `CPUs pinned to ${cpus}; memory limits not emulated` : 'host';
const tier = describeTier({ cpus, memoryMb: tierSpec?.memoryMb, emulation: appliedEmulation });
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
if (remoteWorkers !== undefined) {
  const model = values.models?.split(',')[0] ?? (values.quick ? 'tiny' : 'base');
  const resolved = await resolveModel(model);
  const remoteClips = corpusFiles(path.join(ROOT, '.cache/bench-corpus'), CORPUS.filter((c) => (values.clips ? clipSeconds : [9, 15]).includes(c.seconds)));
  const { out, text } = await runRemoteBench({
    root: ROOT,
    maxProcesses: remoteWorkers,
    threads: available,
    model: { name: model, ...resolved },
    clips: remoteClips.map(({ spec, file }) => ({ file, seconds: spec.seconds })),
    burst: values.quick ? 6 : 24,
    sequential: values.quick ? 3 : 8,
    rounds: values.quick ? 1 : 3,
    tokensPerSecond: resolved.synthetic ? tokensPerSecond : null,
    out: values.out,
  });
  console.log(`${text}\n\nresults: ${out}`);
  process.exit(0);
}
const corpus = corpusFiles(path.join(ROOT, '.cache/bench-corpus'), clipSpecs);
console.error(`tier ${tier.name} (${tier.emulation}); ${models.join(', ')} × ${dtypes.join(', ')} × ${shapes.map((s) => `${s.workers}x${s.threads}`).join(', ')}`);

if (values.baseline) {
  // The issue's reference figures are one worker with two threads.
  const threads = values.shapes ? shapes[0]!.threads : Math.min(2, available);
  const memory = MEMORY_PROFILES[values.memory?.split(',')[0] ?? 'default']!;
  const baselineClips = corpusFiles(path.join(ROOT, '.cache/bench-corpus'), CORPUS.filter((c) => (values.clips ? clipSeconds : [9]).includes(c.seconds)));
  const results: BaselineResult[] = [];
  for (const model of models) {
    const resolved = await resolveModel(model);
    console.error(`baseline: ${model}${resolved.synthetic ? ' (synthetic)' : ''}, ${threads} thread(s), project and bare loop interleaved…`);
    const input: BaselineInput = {
      model,
      modelId: resolved.modelId,
      modelsDir: resolved.modelsDir,
      dtype: dtypes[0]!,
      threads,
      cpuArena: memory.cpuArena,
      mapWeights: memory.mapWeights,
      crossAttentionApart: memory.crossAttentionApart,
      clips: baselineClips.map(({ spec, file }) => ({ file, seconds: spec.seconds })),
      runs: values.quick ? 1 : 3,
      fixedTokensPerSecond: resolved.synthetic ? tokensPerSecond : null,
    };
    results.push(await runScript<BaselineResult>('baseline', 'BASELINE ', input, memory.env));
  }
  const out = values.out ?? path.join(ROOT, 'bench/results', `baseline-${tier.name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ tier, fixedTokensPerSecond: tokensPerSecond, results }, null, 2)}\n`);
  console.log(formatBaseline(results));
  console.log(`\nmachine: ${tier.name} (${tier.emulation}); results: ${out}`);
  process.exit(0);
}

const runs: RunResult[] = [];
const failures: string[] = [];
for (const model of models) {
  const resolved = await resolveModel(model);
  for (const dtype of dtypes) {
    for (const memoryProfile of memoryProfiles) {
      for (const shape of shapes) for (const encoder of encoders) for (let round = 1; round <= repeat; round++) {
        const label = `${model} ${dtype} ${memoryProfile} ${encoder} ${shape.workers}x${shape.threads}${repeat > 1 ? ` (run ${round}/${repeat})` : ''}`;
        console.error(`measuring ${label}${resolved.synthetic ? ' (synthetic)' : ''}…`);
        const profile = MEMORY_PROFILES[memoryProfile]!;
        try {
          const input: MeasureInput = {
            model,
            ...resolved,
            dtype,
            memoryProfile,
            ...shape,
            cpuArena: profile.cpuArena,
            mapWeights: profile.mapWeights,
            crossAttentionApart: profile.crossAttentionApart,
            encoder: { name: encoder, settings: ENCODER_VARIANTS[encoder]! },
            clips: corpus.map(({ spec, file }) => ({ file, seconds: spec.seconds, language: spec.language })),
            quick: values.quick,
            fixedTokensPerSecond: resolved.synthetic ? tokensPerSecond : null,
            soak,
          };
          runs.push(await runChild(input, profile.env));
        } catch (error) {
          failures.push(`${label}: ${(error as Error).message}`);
          console.error(`  ${label} failed: ${(error as Error).message}`);
        }
      }
    }
  }
}

if (values.calibrate) {
  const run = runs[0];
  if (!run) {
    console.error(`calibration failed: ${failures.join('; ')}`);
    process.exit(1);
  }
  const measuredRtf10s = rtfAt10s(run.clips.map((c) => ({ seconds: c.seconds, rtf: c.rtf.p50 })))!;
  const table = tableRtf(MODEL_CATALOG.find((m) => m.name === CALIBRATION_MODEL)!, run.threads, SPEED_SAMPLES)!;
  const dataDir = path.resolve(process.env.DATA_DIR ?? path.join(ROOT, 'data'));
  const file = writeCalibration(dataDir, {
    createdAt: new Date().toISOString(),
    cpuModel: tier.cpuModel,
    vcpus: available,
    model: CALIBRATION_MODEL,
    threads: run.threads,
    measuredRtf10s,
    tableRtf10s: table.rtf,
    factor: measuredRtf10s / table.rtf,
  });
  console.log(
    `${CALIBRATION_MODEL} on 1×${run.threads} thread(s): RTF ${measuredRtf10s.toFixed(3)} for a 10-s note here, ${table.rtf.toFixed(3)} in the bench tables ` +
      `(factor ${(measuredRtf10s / table.rtf).toFixed(2)}${run.synthetic ? '; synthetic weights at real dimensions' : ''}).\ncalibration: ${file}`,
  );
  process.exit(0);
}

const results: BenchResults = {
  schema: 'voicebot-bench/1',
  createdAt: new Date().toISOString(),
  tier,
  settings: { quick: values.quick, fixedTokensPerSecond: runs.some((r) => r.synthetic) ? tokensPerSecond : null },
  runs,
  reference: REFERENCE,
};
const errors = validateResults(results);
const out = values.out ?? path.join(ROOT, 'bench/results', `${tier.name}-${results.createdAt.replace(/[:.]/g, '-')}.json`);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(formatReport(results));
for (const f of failures) console.log(`- failed: ${f}`);
console.log(`\nresults: ${out}`);
if (errors.length > 0) {
  console.error(`the results do not match the schema:\n  ${errors.join('\n  ')}`);
  process.exit(1);
}
process.exit(failures.length > 0 ? 1 : 0);
