// All configuration, from environment variables only, parsed and validated once at startup.
import path from 'node:path';
import { MODEL_CATALOG } from './asr/catalog.js';
import type { CalibrationRead } from './asr/calibration.js';
import { chooseModel, defaultPoolShape, type MachineFacts, type PoolShape } from './asr/model-choice.js';
import { SPEED_SAMPLES } from './asr/speed-table.js';
import { WINDOW_DEFAULTS, type WindowMode } from './asr/encoder-window.js';
import type { DecodingOptions, EncoderSettings } from './asr/protocol.js';
import { DEFAULT_VAD_OPTIONS, type VadOptions } from './asr/vad-segments.js';
import { parseQueueUrl, QueueUrlError, type QueueEndpoint } from './queue/endpoint.js';

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * all: the whole bot in one process (SQLite queue, worker threads); bot: Telegram, the SQLite records
 * and delivery, transcription handed to BullMQ; worker: transcription jobs from BullMQ, no Telegram
 * polling and no database.
 */
export const ROLES = ['all', 'bot', 'worker'] as const;
export type Role = (typeof ROLES)[number];

/** The BullMQ queue on Redis that ROLE=bot and ROLE=worker share (QUEUE_URL and friends). */
export interface QueueSettings {
  endpoint: QueueEndpoint;
  name: string;
  /**
   * How long a worker's hold on a job lasts without being renewed: a worker that died is noticed
   * after this (and at most as long again), and its job goes to another worker.
   */
  lockSeconds: number;
  /** Jobs the bot hands to the queue at once; the rest wait in SQLite, in the bot's fair order. */
  maxInFlight: number;
}

export interface Config {
  role: Role;
  /** Set with ROLE=bot and ROLE=worker, never with ROLE=all. */
  queue?: QueueSettings;
  botToken: string;
  telegramApiRoot: string;
  adminIds: ReadonlySet<number>;
  dataDir: string;
  databasePath: string;
  modelsDir: string;
  /** The hub id of the model to run, e.g. Xenova/whisper-base. */
  modelId: string;
  /** Why this model: the `auto` reasoning, or that the operator chose it. */
  modelReason: string;
  modelHubUrl: string;
  /** The ffmpeg binary; unset: the system's, else the one @ffmpeg-installer/ffmpeg ships. */
  ffmpegPath: string | undefined;
  asrWorkers: number;
  asrThreads: number;
  /** onnxruntime's CPU arena: faster by 5–10%, but ~40% more peak memory per worker. */
  asrCpuArena: boolean;
  /** Map the model's weights from its files instead of copying them into onnxruntime's memory. */
  asrMapWeights: boolean;
  /** Cross-attention keys/values by a session per decoder layer, not the decoder's first step (less peak memory). */
  asrCrossAttentionApart: boolean;
  /** ASR_FUSED_ATTENTION, ASR_WINDOW, ASR_WINDOW_MIN_SECONDS, ASR_WINDOW_MARGIN_SECONDS. */
  asrEncoder: EncoderSettings;
  /** How windows are decoded: beam size, Whisper's temperature fallback, conditioning on previous text. */
  asrDecoding: DecodingOptions;
  /** glibc's malloc settings (MALLOC_*_ variables), validated and logged so the operator sees which memory profile runs. */
  malloc: MallocSettings;
  /** Recycle a worker after this many jobs (0: never). */
  workerMaxJobs: number;
  /** Recycle a worker once process RSS exceeds this after a job (0: never). */
  workerRecycleRssMb: number;
  /** Silero VAD's settings; null with VAD=off (the RMS gate and fixed 30-s windows). */
  vad: VadOptions | null;
  /** A note's length costs disk (its PCM file, 32 KB a second), not memory: nothing caps this but the operator. */
  maxAudioSeconds: number;
  maxFileMb: number;
  httpPort: number;
  logLevel: LogLevel;
  queueMax: number;
  userJobsPerMinute: number;
  userMaxActiveJobs: number;
  memoryMinAvailableMb: number;
  /** Voice notes older than this when first seen (e.g. after downtime) get an apology instead. */
  maxUpdateAgeSeconds: number;
  jobLeaseSeconds: number;
  shutdownGraceSeconds: number;
  storeTranscripts: boolean;
  /** RTF p95 above which the running model counts as too slow for this machine (alerted on), from RTF_BUDGET. */
  rtfBudget: number;
  /** Database backups kept in $DATA_DIR/backups by `npm run db:backup`. */
  backupKeep: number;
  /** Finished jobs' transcripts are cleared after this many days. */
  transcriptRetentionDays: number;
  /** Finished job rows are deleted after this many days. */
  jobRetentionDays: number;
  webhookUrl?: string;
  webhookSecret?: string;
}

type Env = Record<string, string | undefined>;

class EnvReader {
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const v = this.env[name]?.trim();
    return v === '' ? undefined : v;
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  integer(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!/^-?\d+$/.test(v)) throw new ConfigError(name, `expected a whole number, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
    return n;
  }

  decimal(name: string, fallback: number, min: number, max: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!/^\d+(\.\d+)?$/.test(v)) throw new ConfigError(name, `expected a number such as 0.5, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
    return n;
  }

  optionalInteger(name: string, min: number, max: number): number | undefined {
    return this.raw(name) === undefined ? undefined : this.integer(name, 0, min, max);
  }

  /** A decimal strictly between 0 and 1. */
  fraction(name: string, fallback: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^\d*\.?\d+$/.test(v) || !(n > 0 && n < 1)) throw new ConfigError(name, `expected a number between 0 and 1 (exclusive), got "${v}"`);
    return n;
  }

  boolean(name: string, fallback: boolean): boolean {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    throw new ConfigError(name, `expected true or false, got "${v}"`);
  }

  number(name: string, fallback: number, min: number, max: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^\d+(\.\d+)?$/.test(v) || n < min || n > max) throw new ConfigError(name, `expected a number of seconds between ${min} and ${max}, got "${v}"`);
    return n;
  }

  choice<T extends string>(name: string, options: readonly T[], fallback: T): T {
    const v = this.string(name, fallback) as T;
    if (!options.includes(v)) throw new ConfigError(name, `expected one of ${options.join(', ')}, got "${v}"`);
    return v;
  }

  url(name: string, fallback: string): string {
    const v = this.string(name, fallback);
    try {
      const u = new URL(v);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    } catch {
      throw new ConfigError(name, `expected an http(s) URL, got "${v}"`);
    }
    return v.replace(/\/+$/, '');
  }
}

const HUB_ID = /^[\w.-]+\/[\w.-]+$/;

/** ROLE and the queue variables: required together, refused apart, so a half-configured scale-out never starts. */
function roleAndQueue(r: EnvReader): { role: Role; queue?: QueueSettings } {
  const role = r.choice<Role>('ROLE', ROLES, 'all');
  const url = r.raw('QUEUE_URL');
  if (role === 'all') {
    if (url) throw new ConfigError('QUEUE_URL', 'is set with ROLE=all: run ROLE=bot (Telegram, records) and ROLE=worker (transcription) processes with it, or remove it for the single-process default');
    return { role };
  }
  if (!url) throw new ConfigError('QUEUE_URL', `required with ROLE=${role}: the Redis that bot and workers share, e.g. redis://:password@redis:6379/0`);
  let endpoint: QueueEndpoint;
  try {
    endpoint = parseQueueUrl(url);
  } catch (error) {
    if (error instanceof QueueUrlError) throw new ConfigError('QUEUE_URL', error.message);
    throw error;
  }
  const name = r.string('QUEUE_NAME', 'voicebot-transcribe');
  if (!/^[\w.-]{1,64}$/.test(name)) throw new ConfigError('QUEUE_NAME', `expected 1–64 characters of A-Z, a-z, 0-9, _, . and -, got "${name}"`);
  return {
    role,
    queue: {
      endpoint,
      name,
      lockSeconds: r.integer('QUEUE_LOCK_SECONDS', 30, 1, 600),
      maxInFlight: r.integer('REMOTE_MAX_IN_FLIGHT', 16, 1, 1000),
    },
  };
}

function retention(r: EnvReader): { transcriptRetentionDays: number; jobRetentionDays: number } {
  const jobRetentionDays = r.integer('JOB_RETENTION_DAYS', 90, 1, 36_500);
  const transcriptRetentionDays = r.integer('TRANSCRIPT_RETENTION_DAYS', Math.min(30, jobRetentionDays), 1, 36_500);
  if (transcriptRetentionDays > jobRetentionDays) {
    throw new ConfigError('TRANSCRIPT_RETENTION_DAYS', `must not exceed JOB_RETENTION_DAYS (${jobRetentionDays}): transcripts go first, with or before their rows`);
  }
  return { transcriptRetentionDays, jobRetentionDays };
}

function resolveModel(r: EnvReader, machine: MachineFacts, shape: PoolShape, calibration: CalibrationRead): { modelId: string; modelReason: string } {
  const wanted = r.string('WHISPER_MODEL', 'auto');
  const maxRtf = r.decimal('AUTO_MAX_RTF', 0.5, 0.01, 100);
  if (wanted === 'auto') {
    const choice = chooseModel(machine, shape, { maxRtf, samples: SPEED_SAMPLES, calibration: calibration.calibration, calibrationNote: calibration.note });
    return { modelId: choice.model.hubId, modelReason: `auto: ${choice.reason}` };
  }
  const known = MODEL_CATALOG.find((m) => m.name === wanted);
  if (known) return { modelId: known.hubId, modelReason: `WHISPER_MODEL=${wanted}` };
  if (HUB_ID.test(wanted)) return { modelId: wanted, modelReason: `WHISPER_MODEL=${wanted}` };
  throw new ConfigError(
    'WHISPER_MODEL',
    `expected auto, ${MODEL_CATALOG.map((m) => m.name).join(', ')} or a hub id like org/name, got "${wanted}"`,
  );
}

/**
 * RTF_BUDGET: one number for every model, and/or model=number pairs (`1,small=1.5`), since a
 * larger model is slower by design; the running model's budget is the one that counts.
 */
function rtfBudget(r: EnvReader, modelId: string): number {
  const name = 'RTF_BUDGET';
  const budgets = new Map<string | undefined, number>();
  for (const part of (r.raw(name) ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [model, value] = part.includes('=') ? part.split('=', 2).map((s) => s.trim()) : [undefined, part];
    const known = model === undefined || MODEL_CATALOG.some((m) => m.name === model) || HUB_ID.test(model);
    if (!known || !/^\d+(\.\d+)?$/.test(value!) || !(Number(value) > 0)) {
      throw new ConfigError(name, `expected a number, or model=number pairs such as 1,small=1.5 (models: ${MODEL_CATALOG.map((m) => m.name).join(', ')} or a hub id), got "${part}"`);
    }
    budgets.set(model, Number(value));
  }
  const shortName = MODEL_CATALOG.find((m) => m.hubId === modelId)?.name;
  return budgets.get(modelId) ?? budgets.get(shortName) ?? budgets.get(undefined) ?? 1;
}

/**
 * glibc reads these at process start, not the bot; unset, glibc's own defaults (an arena per
 * thread, a dynamic mmap threshold). The image sets three (README, Memory): one heap for every
 * thread, buffers of 1 MiB or more mapped alone and unmapped on free, the rest kept in the heap
 * for the next window instead of being faulted in afresh.
 */
export interface MallocSettings {
  /** MALLOC_ARENA_MAX: how many heaps (arenas) the process's threads share. */
  arenaMax?: number;
  /** MALLOC_MMAP_THRESHOLD_: allocations at least this large are mapped alone and unmapped on free. */
  mmapThreshold?: number;
  /** MALLOC_TRIM_THRESHOLD_: free memory at the top of the main heap above this goes back to the OS. */
  trimThreshold?: number;
  /** MALLOC_TOP_PAD_: slack added each time a heap grows, and kept when it shrinks. */
  topPad?: number;
}

const MALLOC_VARIABLES = {
  arenaMax: { name: 'MALLOC_ARENA_MAX', min: 1, max: 1024, example: '1' },
  mmapThreshold: { name: 'MALLOC_MMAP_THRESHOLD_', min: 4096, max: 32 * 2 ** 20, example: '1048576' },
  trimThreshold: { name: 'MALLOC_TRIM_THRESHOLD_', min: 0, max: 2 ** 40, example: '4294967295' },
  topPad: { name: 'MALLOC_TOP_PAD_', min: 0, max: 2 ** 30, example: '131072' },
} as const;

/** glibc reads an empty value as 0 (for the mmap threshold: every allocation mapped): refuse it rather than crawl. */
function mallocSettings(env: Env, r: EnvReader): MallocSettings {
  const settings: MallocSettings = {};
  for (const [key, { name, min, max, example }] of Object.entries(MALLOC_VARIABLES) as [keyof MallocSettings, (typeof MALLOC_VARIABLES)[keyof MallocSettings]][]) {
    if (name in env && env[name]?.trim() === '') {
      throw new ConfigError(name, `is set but empty, which glibc reads as 0: remove the variable or give a size such as ${example}`);
    }
    const value = r.optionalInteger(name, min, max);
    if (value !== undefined) settings[key] = value;
  }
  return settings;
}

function vadOptions(r: EnvReader): VadOptions | null {
  if (!r.boolean('VAD', true)) return null;
  return {
    threshold: r.fraction('VAD_THRESHOLD', DEFAULT_VAD_OPTIONS.threshold),
    minSpeechMs: r.integer('VAD_MIN_SPEECH_MS', DEFAULT_VAD_OPTIONS.minSpeechMs, 0, 10_000),
    minSilenceMs: r.integer('VAD_MIN_SILENCE_MS', DEFAULT_VAD_OPTIONS.minSilenceMs, 0, 60_000),
    speechPadMs: r.integer('VAD_SPEECH_PAD_MS', DEFAULT_VAD_OPTIONS.speechPadMs, 0, 5_000),
  };
}

export interface LoadConfigOptions {
  /** The bot token is only needed to run the bot, not to transcribe files or pull models (default true). */
  requireToken?: boolean;
  /** This machine's measured speed in DATA_DIR, which WHISPER_MODEL=auto prefers to the bench tables. */
  readCalibration?: (dataDir: string) => CalibrationRead;
}

export function loadConfig(env: Env, machine: MachineFacts, options: LoadConfigOptions = {}): Config {
  const r = new EnvReader(env);

  const botToken = r.raw('BOT_TOKEN') ?? '';
  if ((options.requireToken ?? true) && !botToken) throw new ConfigError('BOT_TOKEN', 'required: the token @BotFather gave you');
  if (botToken && !/^\d+:[\w-]+$/.test(botToken)) throw new ConfigError('BOT_TOKEN', 'does not look like a bot token (digits:secret)');

  const { role, queue } = roleAndQueue(r);

  const adminIds = new Set<number>();
  for (const part of (r.raw('ADMIN_IDS') ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!/^\d+$/.test(part)) throw new ConfigError('ADMIN_IDS', `expected comma-separated numeric user ids, got "${part}"`);
    adminIds.add(Number(part));
  }

  const dataDir = path.resolve(r.string('DATA_DIR', './data'));
  const cpus = machine.vcpus;
  const requestedWorkers = r.optionalInteger('ASR_WORKERS', 1, 64);
  const requestedThreads = r.optionalInteger('ASR_THREADS', 1, 64);
  const shape = defaultPoolShape(cpus, requestedWorkers, requestedThreads);
  if (shape.workers * shape.threads > cpus) {
    const variable = requestedThreads !== undefined ? 'ASR_THREADS' : 'ASR_WORKERS';
    throw new ConfigError(variable, `ASR_WORKERS × ASR_THREADS = ${shape.workers * shape.threads} exceeds the ${cpus} vCPU(s) available`);
  }

  const logLevel = r.string('LOG_LEVEL', 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);

  const model = resolveModel(r, machine, shape, options.readCalibration?.(dataDir) ?? { note: 'no calibration read' });

  const webhookUrl = r.raw('WEBHOOK_URL');
  const webhookSecret = r.raw('WEBHOOK_SECRET');
  if (webhookUrl) {
    r.url('WEBHOOK_URL', webhookUrl);
    if (!webhookSecret || !/^[\w-]{16,256}$/.test(webhookSecret)) {
      throw new ConfigError('WEBHOOK_SECRET', 'required with WEBHOOK_URL: 16–256 characters of A-Z, a-z, 0-9, _ and -');
    }
  }

  return {
    role,
    queue,
    botToken,
    telegramApiRoot: r.url('TELEGRAM_API_ROOT', 'https://api.telegram.org'),
    adminIds,
    dataDir,
    databasePath: path.resolve(r.string('DATABASE_PATH', path.join(dataDir, 'voicebot.sqlite'))),
    modelsDir: path.resolve(r.string('MODELS_DIR', './models')),
    ...model,
    modelHubUrl: r.url('MODEL_HUB_URL', 'https://huggingface.co'),
    ffmpegPath: r.raw('FFMPEG_PATH'),
    asrWorkers: shape.workers,
    asrThreads: shape.threads,
    asrCpuArena: r.boolean('ASR_CPU_ARENA', false),
    asrMapWeights: r.boolean('ASR_MAP_WEIGHTS', true),
    asrCrossAttentionApart: r.boolean('ASR_CROSS_ATTENTION_APART', true),
    asrEncoder: {
      fusedAttention: r.boolean('ASR_FUSED_ATTENTION', true),
      window: {
        mode: r.choice<WindowMode>('ASR_WINDOW', ['full', 'fit'], 'full'),
        minSeconds: r.number('ASR_WINDOW_MIN_SECONDS', WINDOW_DEFAULTS.minSeconds, 1, 30),
        marginSeconds: r.number('ASR_WINDOW_MARGIN_SECONDS', WINDOW_DEFAULTS.marginSeconds, 0, 30),
      },
    },
    asrDecoding: {
      beamSize: r.integer('ASR_BEAM_SIZE', 1, 1, 10),
      temperatureFallback: r.boolean('ASR_TEMPERATURE_FALLBACK', true),
      bestOf: r.integer('ASR_BEST_OF', 5, 1, 10),
      conditionOnPreviousText: r.boolean('ASR_CONDITION_ON_PREVIOUS_TEXT', false),
    },
    malloc: mallocSettings(env, r),
    workerMaxJobs: r.integer('WORKER_MAX_JOBS', 500, 0),
    workerRecycleRssMb: r.integer('WORKER_RECYCLE_RSS_MB', 0, 0),
    vad: vadOptions(r),
    maxAudioSeconds: r.integer('MAX_AUDIO_SECONDS', 600, 1, 24 * 3600),
    maxFileMb: r.integer('MAX_FILE_MB', 20, 1, 2000),
    httpPort: r.integer('HTTP_PORT', 8080, 0, 65535),
    logLevel,
    queueMax: r.integer('QUEUE_MAX', 100, 1),
    userJobsPerMinute: r.integer('USER_JOBS_PER_MINUTE', 30, 1),
    userMaxActiveJobs: r.integer('USER_MAX_ACTIVE_JOBS', 30, 1),
    memoryMinAvailableMb: r.integer('MEMORY_MIN_AVAILABLE_MB', 150, 0),
    maxUpdateAgeSeconds: r.integer('MAX_UPDATE_AGE_SECONDS', 3600, 1),
    jobLeaseSeconds: r.integer('JOB_LEASE_SECONDS', 120, 5),
    shutdownGraceSeconds: r.integer('SHUTDOWN_GRACE_SECONDS', 25, 1),
    storeTranscripts: r.boolean('STORE_TRANSCRIPTS', true),
    rtfBudget: rtfBudget(r, model.modelId),
    backupKeep: r.integer('BACKUP_KEEP', 7, 1, 1000),
    ...retention(r),
    webhookUrl,
    webhookSecret,
  };
}
