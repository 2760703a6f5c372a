// Pure: a failed job through BullMQ, both ways. A worker fails a job with a JobError written into
// BullMQ's failedReason (a string); the bot reads it back into the same JobError, so retries and
// the user's reply follow the rules of a single process. BullMQ's own failures are named too.
import { JOB_ERROR_CODES, JobError, type JobErrorCode, type JobErrorParams } from '../jobs/errors.js';
import type { TranscriptionMeasures } from '../jobs/transcriber.js';

const PREFIX = 'voicebot-job-error ';

/** What BullMQ writes when a job's worker died more than maxStalledCount times while holding it. */
const STALLED_TOO_OFTEN = /stalled more than allowable limit/i;

interface FailurePayload {
  code: JobErrorCode;
  detail: string;
  params: JobErrorParams;
  measured: TranscriptionMeasures;
}

export interface QueuedFailure {
  error: JobError;
  /** What the worker measured before it failed (audio seconds, decode time...), for the job row. */
  measured: TranscriptionMeasures;
}

/** Whether the failure may pass is the code's to say (JobError.retryable), on both sides alike. */
export function encodeFailure(error: JobError, measured: TranscriptionMeasures): string {
  return PREFIX + JSON.stringify({ code: error.code, detail: error.detail, params: error.params, measured } satisfies FailurePayload);
}

export function decodeFailure(failedReason: string | undefined): QueuedFailure {
  const reason = failedReason ?? 'no reason given';
  if (reason.startsWith(PREFIX)) {
    try {
      const payload = JSON.parse(reason.slice(PREFIX.length)) as FailurePayload;
      if ((JOB_ERROR_CODES as readonly string[]).includes(payload.code)) {
        return { error: new JobError(payload.code, payload.detail, payload.params), measured: payload.measured ?? {} };
      }
    } catch {
      // a payload this bot cannot read: an error like any other below
    }
  }
  if (STALLED_TOO_OFTEN.test(reason)) {
    return { error: new JobError('too_many_attempts', `every worker that took it died before finishing it (BullMQ: ${reason})`), measured: {} };
  }
  return { error: new JobError('asr_failed', `the queue failed the job: ${reason}`), measured: {} };
}
