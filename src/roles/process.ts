// What every role's process does alike: its version, and how it dies on a bug.
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.js';

export const VERSION = process.env.npm_package_version ?? '0.1.0';

/** An uncaught exception ends the process (the supervisor restarts a clean one); a stray rejection is counted and logged. */
export function installCrashHandlers(log: Logger, metrics: Metrics, onCrash: (error: Error) => void = () => undefined): void {
  process.on('uncaughtException', (error) => {
    log.fatal({ err: error }, 'uncaught exception: exiting so the supervisor restarts a clean process');
    onCrash(error);
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    metrics.errors.inc({ where: 'unhandled_rejection' });
    log.error({ err: reason }, 'unhandled promise rejection');
  });
}
