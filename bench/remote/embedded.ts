// The embedded pool, measured in a process of its own: the same AsrStack and local transcriber as
// ROLE=all, configured from the environment like the bot. Started by bench/remote/run-remote.ts;
// prints one line `EMBEDDED <json>` (a DriveResult).
import { Api } from 'grammy';
import pino from 'pino';
import { TelegramFiles } from '../../src/bot/telegram-files.js';
import { loadConfig } from '../../src/config.js';
import { memoryLimitMb, vcpus } from '../../src/machine.js';
import { SecretScrubber } from '../../src/metrics/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { AsrStack } from '../../src/roles/asr-stack.js';
import { drive, type DrivePlan } from './drive.js';

const plan = JSON.parse(process.argv[2]!) as Omit<DrivePlan, 'concurrency'>;
const config = loadConfig(process.env, { vcpus: vcpus(), memoryMb: memoryLimitMb() });
const stack = new AsrStack({ config, log: pino({ level: 'silent' }), metrics: new Metrics() });
await stack.start();
const files = new TelegramFiles({
  api: new Api(config.botToken, { apiRoot: config.telegramApiRoot }),
  token: config.botToken,
  apiRoot: config.telegramApiRoot,
  scrub: new SecretScrubber(config.botToken).scrub,
  onRetry: () => undefined,
});
// As the dispatcher of ROLE=all: as many notes at once as the pool has workers.
const result = await drive(stack.transcriber((fileId, jobId, maxBytes) => files.download(fileId, jobId, maxBytes)), { ...plan, concurrency: config.asrWorkers });
console.log(`EMBEDDED ${JSON.stringify(result)}`);
await stack.close();
process.exit(0);
