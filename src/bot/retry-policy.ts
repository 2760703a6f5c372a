// Pure: how long to wait before calling the Bot API again after a failure.

function doubling(failures: number, firstMs: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.max(0, failures - 1));
}

/** Reaching the Bot API at startup: from 1 s up to a minute, so a long outage is not hammered. */
export function connectRetryDelayMs(failures: number): number {
  return doubling(failures, 1_000, 60_000);
}

/** A piece of an answer is tried this many times before the job gives up for this attempt. */
export const DELIVERY_TRIES = 5;

/** Sending a piece of an answer: Telegram's retry_after when it gives one (never less), else 1, 2, 4, 8 s. */
export function deliveryRetryDelayMs(failures: number, retryAfterSeconds?: number): number {
  return Math.max((retryAfterSeconds ?? 0) * 1000, doubling(failures, 1_000, 8_000));
}
