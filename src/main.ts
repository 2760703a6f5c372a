// Wiring: configuration → the role's wiring (src/roles). Nothing else lives here.
import { readCalibration } from './asr/calibration.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { memoryLimitMb, vcpus } from './machine.js';
import { createLogger, SecretScrubber } from './metrics/logger.js';
import { endpointSecrets } from './queue/endpoint.js';
import { runBotNode } from './roles/bot-node.js';
import { runWorkerNode } from './roles/worker-node.js';

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
const scrubber = new SecretScrubber(config.botToken, config.webhookSecret, config.queue ? endpointSecrets(config.queue.endpoint) : []);
const log = createLogger(config.logLevel, scrubber);

if (config.role === 'worker') await runWorkerNode(config, config.queue!, log, scrubber);
else await runBotNode(config, log, scrubber);
