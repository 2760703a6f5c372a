// The job pipeline as ROLE=all wires it (Telegram channel, file downloads, local transcriber), on a
// fake Bot API and a pool the test owns.
import type { Logger } from 'pino';
import type { AsrPool } from '../../src/asr/pool.js';
import type { AudioDecoder } from '../../src/audio/decoder-process.js';
import type { SpeechStage } from '../../src/asr/window-plan.js';
import { createTelegramClients } from '../../src/bot/bot.js';
import { TelegramChannel } from '../../src/bot/telegram-channel.js';
import { TelegramFiles } from '../../src/bot/telegram-files.js';
import type { Job, JobStore } from '../../src/jobs/job-store.js';
import { LocalTranscriber } from '../../src/jobs/local-transcriber.js';
import { JobPipeline } from '../../src/jobs/pipeline.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { directDecoder } from './audio.js';
import { TEST_TOKEN, type FakeBotApi } from './fake-bot-api.js';
import { TEST_MODEL_ID } from './test-model.js';

export interface LocalPipelineParts {
  api: FakeBotApi;
  store: JobStore;
  pool: AsrPool;
  /** The RMS gate; null when the pool's workers run Silero VAD. */
  speech: SpeechStage | null;
  log: Logger;
  /** ffmpeg from the test's own process unless the test brings a decoder. */
  decoder?: AudioDecoder;
  onAttachmentError?: (job: Job, error: Error) => void;
}

export function localPipeline({ api, store, pool, speech, log, decoder = directDecoder, onAttachmentError = () => {} }: LocalPipelineParts): JobPipeline {
  const { jobApi } = createTelegramClients(TEST_TOKEN, api.apiRoot);
  const channel = new TelegramChannel({ api: jobApi, store, scrub: (text) => text, onRetry: () => {}, onAttachmentError });
  const files = new TelegramFiles({ api: jobApi, token: TEST_TOKEN, apiRoot: api.apiRoot, scrub: (text) => text, onRetry: () => {} });
  const metrics = new Metrics();
  const transcriber = new LocalTranscriber({
    download: (fileId, jobId, maxBytes) => files.download(fileId, jobId, maxBytes),
    pool,
    speech,
    metrics,
    decoder,
    modelId: TEST_MODEL_ID,
    maxAudioSeconds: 600,
    maxFileMb: 20,
  });
  return new JobPipeline({ store, channel, transcriber, metrics, log, modelId: TEST_MODEL_ID, storeTranscripts: true });
}
