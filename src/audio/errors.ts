// What decoding audio reports when it cannot give samples; the job pipeline turns it into a job
// error (src/audio never depends on src/jobs).

export type AudioFailure = 'broken_audio' | 'no_audio' | 'too_long' | 'timed_out';

export class AudioError extends Error {
  constructor(
    readonly failure: AudioFailure,
    /** For the operator's log: what exactly failed. */
    readonly detail: string,
    /** The limit that was exceeded, for the user's message. */
    readonly maxSeconds?: number,
  ) {
    super(detail);
    this.name = 'AudioError';
  }
}
