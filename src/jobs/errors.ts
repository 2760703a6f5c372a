// Errors as values: a code the bot turns into a user-facing message, and a cause for the operator.
import { AsrError, type AsrFailure } from '../asr/errors.js';
import { AudioError } from '../audio/errors.js';

export const JOB_ERROR_CODES = [
  'too_large',
  'too_long',
  'unsupported',
  'broken_audio',
  'no_audio',
  'no_speech',
  'download_failed',
  /** The decoder process died or hung (not the file's fault): another attempt runs a fresh one. */
  'decoder_failed',
  'asr_failed',
  /** The audio killed two workers in a row: retrying it would only kill more. */
  'asr_crashed',
  'reply_failed',
  /** ffmpeg or a worker passed the deadline its audio length allows, on every try. */
  'timed_out',
  /** Every attempt ended with the process gone (OOM kill, SIGKILL): another would only do it again. */
  'too_many_attempts',
  'stale',
  'queue_full',
  'rate_limited',
  'busy_user',
  'low_memory',
] as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[number];

/** Values a user-facing message may need: limits, a wait time. */
export type JobErrorParams = Partial<Record<'maxSeconds' | 'maxMb' | 'retryAfterSeconds', number>>;

export class JobError extends Error {
  constructor(
    readonly code: JobErrorCode,
    /** For the operator's log: what exactly failed. Never shown to users. */
    readonly detail: string,
    readonly params: JobErrorParams = {},
  ) {
    super(`${code}: ${detail}`);
    this.name = 'JobError';
  }

  /** Failures a second attempt may fix; the rest are answered at once. */
  get retryable(): boolean {
    return this.code === 'asr_failed' || this.code === 'download_failed' || this.code === 'decoder_failed' || this.code === 'reply_failed';
  }
}

/** Job errors from what the stages throw: their own error types, or anything else as `fallback`. */
const ASR_FAILURE_CODES: Record<AsrFailure, JobErrorCode> = { failed: 'asr_failed', crashed: 'asr_crashed', timed_out: 'timed_out' };

export function asJobError(error: unknown, fallback: JobErrorCode): JobError {
  if (error instanceof JobError) return error;
  if (error instanceof AudioError) return new JobError(error.failure, error.detail, error.maxSeconds === undefined ? {} : { maxSeconds: error.maxSeconds });
  if (error instanceof AsrError) return new JobError(ASR_FAILURE_CODES[error.failure], error.detail);
  const message = error instanceof Error ? error.message : String(error);
  return new JobError(fallback, message);
}
