// ROLE=worker: transcription jobs from the queue, on this machine's pool. No Telegram polling, no
// database: files come from the Bot API by file_id, results go back through the queue.
import { Api } from 'grammy';
import type { Logger } from 'pino';
import { TelegramFiles } from '../bot/telegram-files.js';
import type { Config, QueueSettings } from '../config.js';
import { startHttpServer } from '../http/server.js';
import { availableMemoryMb, memoryLimitMb } from '../machine.js';
import type { SecretScrubber } from '../metrics/logger.js';
import { Metrics } from '../metrics/metrics.js';
import { QueueConnection } from '../queue/connection.js';
import { describeEndpoint } from '../queue/endpoint.js';
import { TranscriptionWorker, workerName } from '../queue/transcription-worker.js';
import { AsrStack, describeAsr } from './asr-stack.js';
import { installCrashHandlers, VERSION } from './process.js';

export async function runWorkerNode(config: Config, queue: QueueSettings, log: Logger, scrubber: SecretScrubber): Promise<void> {
  const metrics = new Metrics();
  metrics.rtfBudget.set({ model: config.modelId }, config.rtfBudget);
  installCrashHandlers(log, metrics);
  const name = workerName();
  log.info({ version: VERSION, role: config.role, worker: name, ...describeAsr(config), memoryLimitMb: memoryLimitMb(), queue: describeEndpoint(queue.endpoint), queueName: queue.name }, 'starting');

  let stack: AsrStack;
  try {
    stack = new AsrStack({ config, log, metrics });
  } catch (error) {
    // No ffmpeg that runs: nothing to transcribe with.
    log.fatal((error as Error).message);
    process.exit(1);
  }
  const connection = new QueueConnection({ endpoint: queue.endpoint, log, metrics });
  const files = new TelegramFiles({
    api: new Api(config.botToken, { apiRoot: config.telegramApiRoot }),
    token: config.botToken,
    apiRoot: config.telegramApiRoot,
    scrub: scrubber.scrub,
    onRetry: (jobId, error, retryInMs) => log.warn({ err: error, jobId, retryInMs }, 'a Telegram call failed: trying again'),
  });
  const worker = new TranscriptionWorker({
    endpoint: queue.endpoint,
    queueName: queue.name,
    name,
    concurrency: config.asrWorkers,
    lockSeconds: queue.lockSeconds,
    transcriber: stack.transcriber((fileId, jobId, maxBytes) => files.download(fileId, jobId, maxBytes)),
    info: { model: config.modelId, concurrency: config.asrWorkers, threads: config.asrThreads, version: VERSION },
    redis: connection.redis,
    memory: { minAvailableMb: config.memoryMinAvailableMb, availableMb: availableMemoryMb },
    metrics,
    log,
  });
  const http = await startHttpServer({ port: config.httpPort, metrics, readiness: { model: () => stack.ready, queue: () => connection.ready } });
  log.info({ port: http.port }, 'health and metrics listening');

  let stopping = false;
  const stop = async (reason: string, exitCode = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ reason, running: worker.active }, 'stopping: taking no new jobs, finishing the running ones');
    const handedBack = await worker.stop(config.shutdownGraceSeconds * 1000, () => stack.close());
    await connection.close();
    await http.close();
    log.info({ handedBack, exitCode }, 'stopped');
    process.exit(exitCode);
  };
  const fail = async (): Promise<never> => {
    await Promise.all([stack.close(), connection.close(), http.close()]);
    process.exit(1);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  connection.on('fatal', (error) => {
    log.fatal({ host: queue.endpoint.host, port: queue.endpoint.port }, error.message);
    void stop('queue_unusable', 1);
  });
  stack.onUnavailable(() => void stop('asr_unavailable', 1));

  // Redis first: wrong credentials end the process before the model is loaded for nothing.
  try {
    await connection.start();
  } catch (error) {
    log.fatal({ host: queue.endpoint.host, port: queue.endpoint.port }, (error as Error).message);
    await fail();
  }
  try {
    await stack.start();
  } catch {
    await fail();
  }
  if (stopping) return;
  if (connection.ready) worker.start();
  else connection.once('ready', () => worker.start());
}
