// Reaching the Bot API at startup: getMe until it answers, every failed attempt logged and counted.
// grammY's bot.init() would retry by itself, silently (only its debug log says so); this asks
// directly, so that a broken DNS, a firewall or a Bot API outage is visible in logs, metrics and /readyz.
import { setTimeout as sleep } from 'node:timers/promises';
import type { UserFromGetMe } from 'grammy/types';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.js';
import { describeHttpFailure, describeNetworkFailure, type ConnectFailure } from './connect-failure.js';
import { connectRetryDelayMs } from './retry-policy.js';

export interface TelegramConnectionOptions {
  token: string;
  apiRoot: string;
  log: Logger;
  metrics: Metrics;
  /** One attempt may take this long before it counts as a timeout. */
  attemptTimeoutMs?: number;
}

type Attempt = { ok: true; me: UserFromGetMe } | { ok: false; failure: ConnectFailure };

export class TelegramConnection {
  private reachedOnce = false;
  private readonly host: string;

  constructor(private readonly options: TelegramConnectionOptions) {
    this.host = new URL(options.apiRoot).host;
  }

  /** The Bot API has answered getMe: /readyz reports Telegram reached. */
  get reached(): boolean {
    return this.reachedOnce;
  }

  /** Resolves with the bot's identity, or undefined when `signal` aborts first (shutdown). */
  async connect(signal: AbortSignal): Promise<UserFromGetMe | undefined> {
    const { log, metrics } = this.options;
    metrics.telegramReachable.set(0);
    for (let attempt = 1; !signal.aborted; attempt++) {
      const outcome = await this.attempt(signal);
      if (outcome.ok) {
        this.reachedOnce = true;
        metrics.telegramReachable.set(1);
        log.info({ username: outcome.me.username, host: this.host, attempts: attempt }, 'connected to Telegram');
        return outcome.me;
      }
      if (signal.aborted) return undefined;
      const retryInMs = connectRetryDelayMs(attempt);
      const { kind, code, status, reason } = outcome.failure;
      metrics.telegramConnectFailures.inc({ kind });
      log.error({ host: this.host, kind, code, status, attempt, retryInMs }, `cannot reach the Bot API at ${this.host}: ${reason}; retrying in ${retryInMs / 1000} s`);
      try {
        await sleep(retryInMs, undefined, { signal });
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  private async attempt(signal: AbortSignal): Promise<Attempt> {
    const { token, apiRoot, attemptTimeoutMs = 30_000 } = this.options;
    try {
      const response = await fetch(`${apiRoot}/bot${token}/getMe`, { signal: AbortSignal.any([signal, AbortSignal.timeout(attemptTimeoutMs)]) });
      const body = (await response.json().catch(() => undefined)) as { ok?: boolean; result?: UserFromGetMe; description?: string } | undefined;
      if (response.ok && body?.ok && body.result) return { ok: true, me: body.result };
      return { ok: false, failure: describeHttpFailure(response.status, body?.description) };
    } catch (error) {
      return { ok: false, failure: describeNetworkFailure(error) };
    }
  }
}
