// The results file of `npm run bench`: its types, documented field by field, and a validator.
// Schema id `voicebot-bench/1`. Times in ms unless named otherwise; memory in MB (2^20 bytes).

export interface Distribution {
  p50: number;
  p95: number;
  max: number;
}

export interface ClipResult {
  seconds: number;
  language: string;
  /** How many times the clip ran (after one warm-up run of the shortest clip). */
  runs: number;
  /** Inference time ÷ audio time. */
  rtf: Distribution;
  /** ffmpeg decode of the OGG/Opus file to 16 kHz PCM. */
  decodeMs: number;
  /** Whisper always encodes a full 30-s window, whatever the clip's length. */
  encoderMsPerWindow: number;
  decoderMsPerToken: number;
  tokensPerRun: number;
  /** Peak process RSS while this clip's runs were transcribed (absent in files from before it was measured). */
  peakMb?: number;
  /** sha256 (16 hex digits) of the first run's transcript: equal across encoder variants when they decode the same tokens. */
  textHash?: string;
}

/** The same short note transcribed many times in a row: does the peak creep up? */
export interface SoakResult {
  notes: number;
  clipSeconds: number;
  /** Highest per-note peak RSS of notes 11–100 (the first ten warm allocator pools and the JIT). */
  firstPeakMb: number;
  /** Highest per-note peak RSS of the last 100 notes. */
  lastPeakMb: number;
}

export interface RunResult {
  /** Short name (tiny, base, small, medium) or hub id. */
  model: string;
  modelId: string;
  /** True when random weights at real dimensions stood in for the hub's files. */
  synthetic: boolean;
  /** q8 (hub `_quantized`: uint8 encoder, int8 decoder), int8, or fp32-encoder+q8-decoder. */
  dtype: string;
  /** lean: arena off + MALLOC_MMAP_THRESHOLD_=131072; default: arena off; fast: onnxruntime's arena on. */
  memoryProfile: string;
  /** How the encoder ran (`--encoder`): fused or unfused attention, full or fit window; absent in older files. */
  encoder?: string;
  workers: number;
  threads: number;
  /** Creating the pool: every worker loading the model. */
  loadMs: number;
  /** From the measuring process's start to its first transcript. */
  coldStartMs: number;
  memory: {
    /** Process RSS after importing the bot's modules (no model). */
    importMb: number;
    loadedMb: number;
    /** The process's peak while the pool loaded the model (absent in older files, whose peakMb does not include it). */
    loadPeakMb?: number;
    firstNoteMb: number;
    /** The process's peak during the first note after the load (absent in older files, whose peakMb includes it). */
    firstNotePeakMb?: number;
    /** The process's peak while the throughput's notes, queued at once, were transcribed (absent in older files). */
    queuedPeakMb?: number;
    steadyMb: number;
    /** Of steadyMb, file-backed pages: code, and weights mapped from the model files (the kernel can drop them under pressure). Absent in older files. */
    steadyFileMb?: number;
    /** The process's peak, its worker threads included: loading and every clip (older files: the clips only). */
    peakMb: number;
    /** Each worker's V8 heap + external after its last job; onnxruntime's native memory is in RSS only. */
    workerHeapMb: number[];
  };
  /** Pages swapped in and out system-wide during the run, and the process's major faults. */
  swap: { pswpin: number; pswpout: number; majorFaults: number };
  clips: ClipResult[];
  throughput: {
    notes: number;
    clipSeconds: number;
    wallSeconds: number;
    /** Audio seconds transcribed per wall-clock second with `notes` queued at once. */
    audioSecondsPerWallSecond: number;
    queueWaitMs: Distribution;
  };
  /** Present when the bench ran with --soak. */
  soak?: SoakResult;
}

export interface BenchResults {
  schema: 'voicebot-bench/1';
  createdAt: string;
  tier: {
    /** e.g. `2gb-2vcpu`, `1gb-swap-1vcpu`: what was measured, never more. */
    name: string;
    vcpus: number;
    memoryMb: number;
    swapMb: number;
    cpuModel: string;
    /** How the tier was made: `host` (as is), or what --cpus/--tier applied. */
    emulation: string;
  };
  settings: {
    quick: boolean;
    /** Tokens decoded per second of audio with end-of-text suppressed (synthetic models); null: the model decides. */
    fixedTokensPerSecond: number | null;
  };
  runs: RunResult[];
  /** What the seed bot measured, for comparison. */
  reference: { label: string; tier: string; audioSeconds: number; processingSeconds: number; rtf: number };
}

export const REFERENCE: BenchResults['reference'] = {
  label: 'faster-whisper medium int8 (seed baseline)',
  tier: '1gb-swap-1vcpu',
  audioSeconds: 8.91,
  processingSeconds: 27.08,
  rtf: 3.04,
};

class Optional {
  constructor(readonly shape: Shape) {}
}
type Shape = 'number' | 'string' | 'boolean' | 'number|null' | Optional | Shape[] | { [key: string]: Shape };

const DISTRIBUTION: Shape = { p50: 'number', p95: 'number', max: 'number' };
const SCHEMA: Shape = {
  schema: 'string',
  createdAt: 'string',
  tier: { name: 'string', vcpus: 'number', memoryMb: 'number', swapMb: 'number', cpuModel: 'string', emulation: 'string' },
  settings: { quick: 'boolean', fixedTokensPerSecond: 'number|null' },
  runs: [
    {
      model: 'string',
      modelId: 'string',
      synthetic: 'boolean',
      dtype: 'string',
      memoryProfile: 'string',
      encoder: new Optional('string'),
      workers: 'number',
      threads: 'number',
      loadMs: 'number',
      coldStartMs: 'number',
      memory: { importMb: 'number', loadedMb: 'number', loadPeakMb: new Optional('number'), firstNoteMb: 'number', firstNotePeakMb: new Optional('number'), queuedPeakMb: new Optional('number'), steadyMb: 'number', steadyFileMb: new Optional('number'), peakMb: 'number', workerHeapMb: ['number'] },
      swap: { pswpin: 'number', pswpout: 'number', majorFaults: 'number' },
      clips: [{ seconds: 'number', language: 'string', runs: 'number', rtf: DISTRIBUTION, decodeMs: 'number', encoderMsPerWindow: 'number', decoderMsPerToken: 'number', tokensPerRun: 'number', peakMb: new Optional('number'), textHash: new Optional('string') }],
      throughput: { notes: 'number', clipSeconds: 'number', wallSeconds: 'number', audioSecondsPerWallSecond: 'number', queueWaitMs: DISTRIBUTION },
      soak: new Optional({ notes: 'number', clipSeconds: 'number', firstPeakMb: 'number', lastPeakMb: 'number' }),
    },
  ],
  reference: { label: 'string', tier: 'string', audioSeconds: 'number', processingSeconds: 'number', rtf: 'number' },
};

function check(value: unknown, shape: Shape, at: string, errors: string[]): void {
  if (shape instanceof Optional) {
    if (value !== undefined) check(value, shape.shape, at, errors);
  } else if (typeof shape === 'string') {
    const ok = shape === 'number|null' ? value === null || (typeof value === 'number' && Number.isFinite(value)) : shape === 'number' ? typeof value === 'number' && Number.isFinite(value) : typeof value === shape;
    if (!ok) errors.push(`${at}: expected ${shape}, got ${JSON.stringify(value)}`);
  } else if (Array.isArray(shape)) {
    if (!Array.isArray(value)) errors.push(`${at}: expected an array`);
    else value.forEach((v, i) => check(v, shape[0]!, `${at}[${i}]`, errors));
  } else if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    errors.push(`${at}: expected an object`);
  } else {
    for (const [key, sub] of Object.entries(shape)) check((value as Record<string, unknown>)[key], sub, `${at}.${key}`, errors);
  }
}

/** Every way `data` departs from the schema; empty when it is a valid results file. */
export function validateResults(data: unknown): string[] {
  const errors: string[] = [];
  check(data, SCHEMA, '$', errors);
  if (errors.length === 0) {
    const results = data as BenchResults;
    if (results.schema !== 'voicebot-bench/1') errors.push(`$.schema: expected voicebot-bench/1, got ${results.schema}`);
    if (results.runs.length === 0) errors.push('$.runs: no runs');
    for (const [i, run] of results.runs.entries()) {
      if (run.clips.length === 0) errors.push(`$.runs[${i}].clips: no clips`);
      for (const [j, clip] of run.clips.entries()) if (!(clip.rtf.p50 > 0)) errors.push(`$.runs[${i}].clips[${j}].rtf.p50: must be positive`);
    }
  }
  return errors;
}
