// What the ASR side reports when a transcription does not happen; the job pipeline turns it into a
// job error (src/asr never depends on src/jobs).

/**
 * failed: this attempt did not work (a retry may); crashed: the audio killed two workers in a row;
 * timed_out: two workers in a row passed the task's deadline on it.
 */
export type AsrFailure = 'failed' | 'crashed' | 'timed_out';

export class AsrError extends Error {
  constructor(
    readonly failure: AsrFailure,
    /** For the operator's log: what exactly failed. */
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'AsrError';
  }
}
