// ROLE=all and ROLE=bot: storage → transcription (this process, or the queue) → bot → HTTP.
import { run, type RunnerHandle } from '@grammyjs/runner';
import { webhookCallback } from 'grammy';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { createTelegramClients, installHandlers } from '../bot/bot.js';
import { Intake } from '../bot/intake.js';
import { SettingsStore } from '../bot/settings-store.js';
import { statsCommand } from '../bot/stats-command.js';
import { TelegramChannel } from '../bot/telegram-channel.js';
import { TelegramConnection } from '../bot/telegram-connection.js';
import { TelegramFiles } from '../bot/telegram-files.js';
import { UpdateInbox } from '../bot/update-inbox.js';
import type { Config } from '../config.js';
import { startHttpServer } from '../http/server.js';
import { Dispatcher } from '../jobs/dispatcher.js';
import { JobStats } from '../jobs/job-stats.js';
import { JobStore } from '../jobs/job-store.js';
import { JobPipeline } from '../jobs/pipeline.js';
import { Retention } from '../jobs/retention.js';
import { availableMemoryMb, memoryLimitMb, swapUsedMb } from '../machine.js';
import type { SecretScrubber } from '../metrics/logger.js';
import { Metrics } from '../metrics/metrics.js';
import { describeEndpoint } from '../queue/endpoint.js';
import { Shutdown } from '../shutdown.js';
import { isWritable, openDatabase, StorageError, type Db } from '../storage/database.js';
import { LifecycleLog } from '../storage/lifecycle.js';
import { describeAsr } from './asr-stack.js';
import { installCrashHandlers, VERSION } from './process.js';
import { localTranscription } from './local-transcription.js';
import { remoteTranscription } from './remote-transcription.js';
import type { TranscriptionSide } from './transcription-side.js';

const WEBHOOK_PATH = '/telegram/webhook';

export async function runBotNode(config: Config, log: Logger, scrubber: SecretScrubber): Promise<void> {
  const startedAt = Date.now();
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
  installCrashHandlers(log, metrics, (error) => lifecycle.record('crash', { error: error.message }));

  if (lifecycle.previousRunWasUnclean()) {
    lifecycle.record('unclean_exit');
    metrics.previousRunUnclean.set(1);
    log.warn('the previous run ended without a clean stop: it was killed (OOM kill: exit 137, SIGKILL) or the machine lost power');
  }
  lifecycle.record('start', { version: VERSION, model: config.modelId, pid: process.pid, role: config.role });
  const queue = config.queue;
  log.info(
    {
      version: VERSION,
      role: config.role,
      ...(queue ? { model: config.modelId, queue: describeEndpoint(queue.endpoint), queueName: queue.name, maxInFlight: queue.maxInFlight } : describeAsr(config)),
      memoryLimitMb: memoryLimitMb(),
      database: config.databasePath,
      mode: config.webhookUrl ? 'webhook' : 'long polling',
    },
    'starting',
  );

  const store = new JobStore(db);
  const { bot, jobApi } = createTelegramClients(config.botToken, config.telegramApiRoot, (reachable) => metrics.telegramReachable.set(reachable ? 1 : 0));
  const files = new TelegramFiles({
    api: jobApi,
    token: config.botToken,
    apiRoot: config.telegramApiRoot,
    scrub: scrubber.scrub,
    onRetry: (jobId, error, retryInMs) => {
      metrics.deliveryRetries.inc();
      log.warn({ err: error, jobId, retryInMs }, 'a Telegram call failed: trying again');
    },
  });
  let transcription: TranscriptionSide;
  try {
    transcription = queue ? remoteTranscription(config, queue, log, metrics) : localTranscription({ config, files, log, metrics, lifecycle, pending: () => store.pendingCount() });
  } catch (error) {
    // No ffmpeg that runs: nothing to transcribe with.
    log.fatal((error as Error).message);
    lifecycle.record('crash', { error: (error as Error).message });
    process.exit(1);
  }

  let webhookHandler: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
  const http = await startHttpServer({
    port: config.httpPort,
    metrics,
    readiness: {
      ...transcription.readiness,
      database: () => isWritable(db),
      telegram: () => telegram.reached,
    },
    extra: (req, res) => {
      if (!webhookHandler || req.method !== 'POST' || req.url !== WEBHOOK_PATH) return false;
      void webhookHandler(req, res);
      return true;
    },
  });
  log.info({ port: http.port }, 'health and metrics listening');

  try {
    await transcription.start();
  } catch (error) {
    lifecycle.record('crash', { error: (error as Error).message });
    await http.close();
    process.exit(1);
  }

  const settings = new SettingsStore(db);
  const inbox = new UpdateInbox(db);
  bot.api.config.use(inbox.recorder());
  const channel = new TelegramChannel({
    api: jobApi,
    store,
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
  const pipeline = new JobPipeline({ store, channel, transcriber: transcription.transcriber, metrics, log, modelId: config.modelId, storeTranscripts: config.storeTranscripts });
  const dispatcher = new Dispatcher({
    store,
    concurrency: transcription.concurrency,
    leaseMs: config.jobLeaseSeconds * 1000,
    run: (job, stopping) => pipeline.run(job, stopping),
    workersReady: () => transcription.ready(),
    resumeGivesBackAttempts: transcription.resumeGivesBackAttempts,
    memoryAllowsMore: () => transcription.memoryAllowsMore(),
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
          transcription: transcription.figures(),
          queueDepth: store.pendingCount(),
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
    transcription,
    http,
    retention,
    store,
    lifecycle,
    db,
    log,
    graceMs: config.shutdownGraceSeconds * 1000,
  });
  shutdown.onSignals();
  transcription.onReady(() => dispatcher.poke());
  transcription.onFatal((reason) => void shutdown.run(reason, 1));

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
}
