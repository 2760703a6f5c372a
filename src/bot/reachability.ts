// Whether Telegram answers: every Bot API call (long polling's getUpdates included) is a probe.
import type { Api } from 'grammy';

/**
 * Reports after each call whether the Bot API answered. An answer with an error (a 4xx about one
 * chat) still proves Telegram reachable; a network failure or a 5xx does not. Calls aborted by our
 * own shutdown say nothing about Telegram and are not reported.
 */
export function trackReachability(api: Api, report: (reachable: boolean) => void): void {
  api.config.use(async (prev, method, payload, signal) => {
    try {
      const response = await prev(method, payload, signal);
      report(response.ok || (response.error_code ?? 0) < 500);
      return response;
    } catch (error) {
      if (!signal?.aborted) report(false);
      throw error;
    }
  });
}
