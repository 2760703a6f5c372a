// ROLE=bot: jobs are handed to transcription workers through BullMQ on Redis.
import type { Logger } from 'pino';
import type { Config, QueueSettings } from '../config.js';
import type { Metrics } from '../metrics/metrics.js';
import { QueueConnection } from '../queue/connection.js';
import { Fleet, handOverAllowed } from '../queue/fleet.js';
import { RemoteTranscriber } from '../queue/remote-transcriber.js';
import type { TranscriptionSide } from './transcription-side.js';

export function remoteTranscription(config: Config, queue: QueueSettings, log: Logger, metrics: Metrics): TranscriptionSide {
  const connection = new QueueConnection({ endpoint: queue.endpoint, log, metrics });
  const remote = new RemoteTranscriber({
    endpoint: queue.endpoint,
    queueName: queue.name,
    limits: { maxAudioSeconds: config.maxAudioSeconds, maxFileMb: config.maxFileMb },
    log,
  });
  const fleet = new Fleet({ queue: remote.queue, redis: connection.redis, queueName: queue.name, metrics, log });
  connection.on('ready', () => void fleet.refresh());
  return {
    transcriber: remote,
    concurrency: queue.maxInFlight,
    ready: () => handOverAllowed(connection.ready, fleet.count),
    // Memory is each worker's to guard, on its own machine.
    memoryAllowsMore: () => true,
    resumeGivesBackAttempts: true,
    readiness: { queue: () => connection.ready, workers: () => fleet.count !== 0 },
    figures: () => ({ where: 'queue', model: config.modelId, reachable: connection.ready, workers: fleet.count === null ? null : fleet.list() }),
    start: async () => {
      // Unreachable is not a reason to stop: notes wait in SQLite, and the connection keeps trying.
      await connection.start().catch((error: Error) => {
        log.fatal({ host: queue.endpoint.host, port: queue.endpoint.port }, error.message);
        throw error;
      });
      fleet.start();
    },
    onReady: (listener) => {
      connection.on('ready', listener);
      fleet.onWorkers(listener);
    },
    onFatal: (stop) =>
      connection.on('fatal', (error) => {
        log.fatal({ host: queue.endpoint.host, port: queue.endpoint.port }, error.message);
        stop('queue_unusable');
      }),
    close: async () => {
      fleet.stop();
      await remote.close();
      await connection.close();
    },
  };
}
