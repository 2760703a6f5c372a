// ROLE=all: jobs are transcribed in this process, on its worker threads.
import type { Logger } from 'pino';
import type { TelegramFiles } from '../bot/telegram-files.js';
import type { Config } from '../config.js';
import { availableMemoryMb } from '../machine.js';
import type { Metrics } from '../metrics/metrics.js';
import type { LifecycleLog } from '../storage/lifecycle.js';
import { AsrStack } from './asr-stack.js';
import type { TranscriptionSide } from './transcription-side.js';

export interface LocalTranscriptionParts {
  config: Config;
  files: TelegramFiles;
  log: Logger;
  metrics: Metrics;
  lifecycle: LifecycleLog;
  /** Jobs queued or running, for the fatal line when no worker can load. */
  pending: () => number;
}

export function localTranscription({ config, files, log, metrics, lifecycle, pending }: LocalTranscriptionParts): TranscriptionSide {
  const stack = new AsrStack({ config, log, metrics, record: (kind, detail) => lifecycle.record(kind, detail) });
  return {
    transcriber: stack.transcriber((fileId, jobId, maxBytes) => files.download(fileId, jobId, maxBytes)),
    concurrency: config.asrWorkers,
    ready: () => stack.pool.readyWorkers > 0,
    memoryAllowsMore: () => availableMemoryMb() >= config.memoryMinAvailableMb,
    resumeGivesBackAttempts: false,
    readiness: { model: () => stack.ready },
    figures: () => ({ where: 'here', model: config.modelId, modelLoadMs: stack.modelLoadMs, workers: stack.pool.size, threads: stack.pool.threads }),
    start: () => stack.start(),
    onReady: (listener) => stack.pool.on('worker_ready', listener),
    onFatal: (stop) => stack.onUnavailable(() => stop('asr_unavailable'), () => ({ queued: pending() })),
    close: () => stack.close(),
  };
}
