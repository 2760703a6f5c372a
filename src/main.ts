// Wiring: configuration → storage → model → pool → bot → HTTP. Nothing else lives here.
import { run, type RunnerHandle } from '@grammyjs/runner';
import { webhookCallback } from 'grammy';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readCalibration } from './asr/calibration.js';
import { MODEL_DTYPE } from './asr/catalog.js';
import { ensureModel, ModelDownloadError } from './asr/model-store.js';
import { AsrPool } from './asr/pool.js';
import { SileroVadStage } from './asr/vad-stage.js';
import type { SpeechStage } from './asr/window-plan.js';
import { DecoderProcess } from './audio/decoder-process.js';
import { findFfmpeg, SAMPLE_RATE, type FfmpegBinary } from './audio/ffmpeg.js';
import { RmsSpeechGate } from './audio/speech-gate.js';
import { createTelegramClients, installHandlers } from './bot/bot.js';
import { Intake } from './bot/intake.js';
import { SettingsStore } from './bot/settings-store.js';
import { statsCommand } from './bot/stats-command.js';
import { TelegramChannel } from './bot/telegram-channel.js';
import { TelegramConnection } from './bot/telegram-connection.js';
import { UpdateInbox } from './bot/update-inbox.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { Dispatcher } from './jobs/dispatcher.js';
import { JobStats } from './jobs/job-stats.js';
import { JobStore } from './jobs/job-store.js';
import { JobPipeline } from './jobs/pipeline.js';
import { Retention } from './jobs/retention.js';
import { startHttpServer } from './http/server.js';
import { createLogger, SecretScrubber } from './metrics/logger.js';
import { availableMemoryMb, memoryLimitMb, swapUsedMb, vcpus } from './machine.js';
import { Metrics } from './metrics/metrics.js';
import { isWritable, openDatabase, StorageError, type Db } from './storage/database.js';
import { LifecycleLog } from './storage/lifecycle.js';
import { Shutdown } from './shutdown.js';

const WEBHOOK_PATH = '/telegram/webhook';
const VERSION = process.env.npm_package_version ?? '0.1.0';
const startedAt = Date.now();

function fatal(message: string): never {
  // Before the logger exists: one JSON line shaped like pino's, so log collectors read it the same.
  process.stderr.write(`${JSON.stringify({ level: 60, time: Date.now(), service: 'voicebot', msg: message })}\n`);
  process.exit(1);
}

let config: Config;
try {
  config = loadConfig(process.env, { vcpus: vcpus(), memoryMb: memoryLimitMb() }, { readCalibration });
} catch (error) {
  fatal(error instanceof ConfigError ? `invalid configuration: ${error.message}` : String(error));
}
const scrubber = new SecretScrubber(config.botToken, config.webhookSecret);
const log = createLogger(config.logLevel, scrubber);

let db: Db;
try {
  db = openDatabase(config.databasePath);
} catch (error) {
  log.fatal({ path: error instanceof StorageError ? error.path : config.databasePath }, (error as Error).message);
  process.exit(1);
}
const lifecycle = new LifecycleLog(db, scrubber.scrub);
const metrics = new Metrics();
metrics.rtfBudget.set({ model: config.modelId }, config.rtfBudget);
const telegram = new TelegramConnection({ token: config.botToken, apiRoot: config.telegramApiRoot, log, metrics });

process.on('uncaughtException', (error) => {
  log.fatal({ err: error }, 'uncaught exception: exiting so the supervisor restarts a clean process');
  lifecycle.record('crash', { error: error.message });
  process.exit(1);
});
process.on('unhandledRejection', (reason) => {
  metrics.errors.inc({ where: 'unhandled_rejection' });
  log.error({ err: reason }, 'unhandled promise rejection');
});

if (lifecycle.previousRunWasUnclean()) {
  lifecycle.record('unclean_exit');
  metrics.previousRunUnclean.set(1);
  log.warn('the previous run ended without a clean stop: it was killed (OOM kill: exit 137, SIGKILL) or the machine lost power');
}
lifecycle.record('start', { version: VERSION, model: config.modelId, pid: process.pid });
log.info(
  {
    version: VERSION,
    model: config.modelId,
    modelReason: config.modelReason,
    workers: config.asrWorkers,
    threads: config.asrThreads,
    cpuArena: config.asrCpuArena,
    encoder: config.asrEncoder,
    mallocMmapThreshold: config.mallocMmapThreshold ?? 'glibc default (dynamic)',
    vad: config.vad ?? 'off (RMS gate, fixed 30-s windows)',
    vcpus: vcpus(),
    memoryLimitMb: memoryLimitMb(),
    database: config.databasePath,
    mode: config.webhookUrl ? 'webhook' : 'long polling',
    maxAudioSeconds: config.maxAudioSeconds,
    maxAudioReason: config.maxAudioReason,
  },
  'starting',
);

let ffmpeg: FfmpegBinary;
try {
  ffmpeg = findFfmpeg(config.ffmpegPath);
} catch (error) {
  log.fatal((error as Error).message);
  process.exit(1);
}
log.info({ ffmpeg: ffmpeg.path, source: ffmpeg.source }, 'ffmpeg found');
// Forked now, before the model makes this process large (see decoder-process.ts).
const decoder = new DecoderProcess({
  ffmpegPath: ffmpeg.path,
  onExit: (detail) => {
    metrics.errors.inc({ where: 'decoder_process' });
    lifecycle.record('decoder_exit', { detail });
    log.error({ detail }, 'the decoder process ended: it starts again for the next note');
  },
});
await decoder.start();

const pool = new AsrPool({
  size: config.asrWorkers,
  init: { modelId: config.modelId, modelsDir: config.modelsDir, dtype: MODEL_DTYPE, threads: config.asrThreads, cpuArena: config.asrCpuArena, encoder: config.asrEncoder, decoding: config.asrDecoding },
  maxTasksPerWorker: config.workerMaxJobs,
  recycleRssMb: config.workerRecycleRssMb,
});
const vad = config.vad ? new SileroVadStage(config.vad, SAMPLE_RATE) : undefined;
const speech: SpeechStage = vad ?? new RmsSpeechGate(SAMPLE_RATE);
let modelLoadMs: number | undefined;
pool.on('worker_ready', ({ workerId, loadMs, loadNotes }) => {
  modelLoadMs = loadMs;
  metrics.modelLoadSeconds.set({ model: config.modelId }, loadMs / 1000);
  log.info({ workerId, loadMs: Math.round(loadMs), graph: loadNotes }, 'ASR worker ready');
});
pool.on('worker_exit', (exit) => {
  metrics.workerRestarts.inc({ reason: exit.reason });
  if (exit.reason === 'timed_out') metrics.deadlinesExceeded.inc({ stage: 'transcribe' });
  lifecycle.record('worker_exit', exit);
  if (exit.reason === 'recycled') log.info(exit, 'ASR worker recycled');
  else log.error(exit, exit.reason === 'out_of_memory' ? 'ASR worker ran out of memory' : 'ASR worker died');
});

let webhookHandler: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
const http = await startHttpServer({
  port: config.httpPort,
  metrics,
  readiness: {
    modelLoaded: () => modelLoadMs !== undefined && pool.readyWorkers > 0,
    databaseWritable: () => isWritable(db),
    telegramReached: () => telegram.reached,
  },
  extra: (req, res) => {
    if (!webhookHandler || req.method !== 'POST' || req.url !== WEBHOOK_PATH) return false;
    void webhookHandler(req, res);
    return true;
  },
});
log.info({ port: http.port }, 'health and metrics listening');

try {
  const fetched = await ensureModel({
    modelId: config.modelId,
    modelsDir: config.modelsDir,
    hubUrl: config.modelHubUrl,
    dtype: MODEL_DTYPE,
    onFile: (file, bytes, ms) => log.info({ file, mb: +(bytes / 2 ** 20).toFixed(1), ms: Math.round(ms) }, 'model file downloaded'),
  });
  log.info({ model: config.modelId, downloaded: fetched }, fetched.length ? 'model downloaded' : 'model present: starting offline');
  await Promise.all([pool.start(), vad?.start()]);
} catch (error) {
  const where = error instanceof ModelDownloadError ? { host: error.host, stage: error.stage } : {};
  log.fatal({ ...where, model: config.modelId }, (error as Error).message);
  lifecycle.record('crash', { error: (error as Error).message });
  await Promise.all([pool.close(), speech.close(), decoder.close()]);
  await http.close();
  process.exit(1);
}

const store = new JobStore(db);
const settings = new SettingsStore(db);
const { bot, jobApi } = createTelegramClients(config.botToken, config.telegramApiRoot, (reachable) => metrics.telegramReachable.set(reachable ? 1 : 0));
const inbox = new UpdateInbox(db);
bot.api.config.use(inbox.recorder());
const channel = new TelegramChannel({
  api: jobApi,
  store,
  token: config.botToken,
  apiRoot: config.telegramApiRoot,
  scrub: scrubber.scrub,
  onRetry: (job, error, retryInMs) => {
    metrics.deliveryRetries.inc();
    log.warn({ err: error, jobId: job.id, retryInMs }, 'a Telegram call failed: trying again');
  },
  onAttachmentError: (job, error) => {
    metrics.errors.inc({ where: 'attachment' });
    log.warn({ err: error, jobId: job.id }, 'transcript delivered, but its file attachment failed');
  },
});
const pipeline = new JobPipeline({
  store,
  channel,
  pool,
  speech,
  metrics,
  log,
  decoder,
  modelId: config.modelId,
  maxAudioSeconds: config.maxAudioSeconds,
  maxFileMb: config.maxFileMb,
  storeTranscripts: config.storeTranscripts,
});
const dispatcher = new Dispatcher({
  store,
  concurrency: config.asrWorkers,
  leaseMs: config.jobLeaseSeconds * 1000,
  run: (job, stopping) => pipeline.run(job, stopping),
  workersReady: () => pool.readyWorkers > 0,
  memoryAllowsMore: () => availableMemoryMb() >= config.memoryMinAvailableMb,
  onQueueDepth: (depth) => metrics.queueDepth.set(depth),
  log,
});
const intake = new Intake({
  store,
  settings,
  channel,
  limits: config,
  modelId: config.modelId,
  metrics,
  log,
  availableMemoryMb,
  onJobQueued: () => dispatcher.poke(),
});
const jobStats = new JobStats(db);
installHandlers(bot, {
  inbox,
  settings,
  intake,
  metrics,
  log,
  storeTranscripts: config.storeTranscripts,
  retention: { transcriptDays: config.transcriptRetentionDays, jobDays: config.jobRetentionDays },
  extra: [
    statsCommand({
      adminIds: config.adminIds,
      stats: jobStats,
      live: () => ({
        uptimeSeconds: (Date.now() - startedAt) / 1000,
        version: VERSION,
        model: config.modelId,
        modelLoadMs,
        queueDepth: store.pendingCount(),
        workers: pool.size,
        threads: pool.threads,
        rssMb: process.memoryUsage.rss() / 2 ** 20,
        // ru_maxrss: the process's peak, workers included (they are threads of it).
        peakRssMb: process.resourceUsage().maxRSS / 1024,
        swapUsedMb: swapUsedMb(),
      }),
    }),
  ],
});

const retention = new Retention({ store, transcriptRetentionDays: config.transcriptRetentionDays, jobRetentionDays: config.jobRetentionDays, metrics, log });
retention.start();
dispatcher.start();

let runner: RunnerHandle | undefined;
const connecting = new AbortController();
const shutdown = new Shutdown({
  stopIntake: async () => {
    connecting.abort();
    if (runner?.isRunning()) await runner.stop();
    webhookHandler = undefined;
  },
  dispatcher,
  pool,
  speech,
  decoder,
  http,
  retention,
  store,
  lifecycle,
  db,
  log,
  graceMs: config.shutdownGraceSeconds * 1000,
});
shutdown.onSignals();
pool.on('worker_ready', () => dispatcher.poke());
pool.on('unavailable', ({ failuresInARow, lastError }) => {
  metrics.asrUnavailable.inc();
  log.fatal(
    { failuresInARow, lastError, queued: store.pendingCount() },
    'no ASR worker can load the model: exiting so the supervisor restarts a clean process (queued jobs stay queued)',
  );
  void shutdown.run('asr_unavailable', 1);
});

const me = await telegram.connect(connecting.signal);
if (me) bot.botInfo = me;
const replayed = me ? inbox.unhandled() : [];
if (replayed.length > 0) log.warn({ updates: replayed.length }, 'handling updates the previous run received but did not finish');
for (const update of replayed) await bot.handleUpdate(update);
if (me && !shutdown.stopping) {
  if (config.webhookUrl) {
    webhookHandler = webhookCallback(bot, 'http', { secretToken: config.webhookSecret, onTimeout: 'return' });
    await bot.api.setWebhook(`${config.webhookUrl.replace(/\/+$/, '')}${WEBHOOK_PATH}`, {
      secret_token: config.webhookSecret,
      allowed_updates: ['message'],
    });
    log.info({ url: config.webhookUrl }, 'webhook set');
  } else {
    await bot.api.deleteWebhook();
    runner = run(bot, { runner: { fetch: { allowed_updates: ['message'] } } });
    log.info('long polling');
  }
}
