// One Bot API call, tried again after a failure that may pass: shared by file downloads and delivery.
import { setTimeout as sleep } from 'node:timers/promises';
import { GrammyError, HttpError } from 'grammy';
import { DELIVERY_TRIES, deliveryRetryDelayMs } from './retry-policy.js';

/** A network failure, a flood limit or a server error: the same call may succeed later. */
export function isTransient(error: unknown): boolean {
  return error instanceof HttpError || (error instanceof GrammyError && (error.error_code === 429 || error.error_code >= 500));
}

/**
 * Never sooner than Telegram's retry_after, up to DELIVERY_TRIES times. What still fails is thrown
 * as it came, for the caller to name.
 */
export async function withRetries<T>(send: () => Promise<T>, onRetry: (error: Error, retryInMs: number) => void): Promise<T> {
  for (let failures = 1; ; failures++) {
    try {
      return await send();
    } catch (error) {
      if (!isTransient(error) || failures >= DELIVERY_TRIES) throw error;
      const retryInMs = deliveryRetryDelayMs(failures, error instanceof GrammyError ? error.parameters.retry_after : undefined);
      onRetry(error as Error, retryInMs);
      await sleep(retryInMs);
    }
  }
}
