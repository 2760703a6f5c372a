// The grammY bot: dedupe, commands, voice-note intake, errors counted and logged.
import { autoRetry } from '@grammyjs/auto-retry';
import { apiThrottler } from '@grammyjs/transformer-throttler';
import { Api, Bot, type Context, type MiddlewareFn } from 'grammy';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.js';
import { commands, type CommandDeps } from './commands.js';
import type { Intake } from './intake.js';
import { trackReachability } from './reachability.js';
import type { UpdateInbox } from './update-inbox.js';

export interface BotDeps extends CommandDeps {
  inbox: UpdateInbox;
  intake: Intake;
  metrics: Metrics;
  log: Logger;
  /** Extra commands composed before the defaults, e.g. /stats. */
  extra?: MiddlewareFn<Context>[];
}

/**
 * Polling is at-least-once: after a crash Telegram redelivers, and nothing is answered twice. An
 * update counts as seen only once handled, so one cut off by a kill is handled again; the job row's
 * (chat, message) key keeps that from making a voice note two jobs.
 */
function dedupeUpdates(inbox: UpdateInbox): MiddlewareFn<Context> {
  return async (ctx, next) => {
    if (inbox.wasHandled(ctx.update.update_id)) return;
    try {
      await next();
    } finally {
      // A handler that failed was logged by bot.catch; replaying it at every start would not help.
      inbox.handled(ctx.update.update_id);
    }
  };
}

export interface TelegramClients {
  /** Commands and intake: 429 flood waits and server errors retried inside the client. */
  bot: Bot;
  /**
   * The job pipeline's client, with no retries inside: its channel retries each piece of an answer
   * itself, records what Telegram accepted, and must see every failure to do so.
   */
  jobApi: Api;
}

/**
 * Both clients share one throttle, so together they stay within Telegram's rate limits.
 * `onReachability` hears about every attempt of either: it sits below auto-retry, which retries
 * network errors without end and would otherwise hide an outage.
 */
export function createTelegramClients(token: string, apiRoot: string, onReachability?: (reachable: boolean) => void): TelegramClients {
  const throttle = apiThrottler();
  const bot = new Bot(token, { client: { apiRoot } });
  if (onReachability) trackReachability(bot.api, onReachability);
  bot.api.config.use(throttle);
  bot.api.config.use(autoRetry({ maxRetryAttempts: 5, maxDelaySeconds: 120 }));
  const jobApi = new Api(token, { apiRoot });
  if (onReachability) trackReachability(jobApi, onReachability);
  jobApi.config.use(throttle);
  return { bot, jobApi };
}

export function installHandlers(bot: Bot, deps: BotDeps): void {
  bot.use(dedupeUpdates(deps.inbox));
  for (const middleware of deps.extra ?? []) bot.use(middleware);
  bot.use(commands(deps));
  bot.use(deps.intake.middleware());

  bot.catch((error) => {
    deps.metrics.errors.inc({ where: 'bot' });
    deps.log.error({ err: error.error, updateId: error.ctx.update.update_id }, 'update handling failed');
  });
}
