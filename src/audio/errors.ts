// What decoding audio reports when it cannot give samples; the job pipeline turns it into a job
// error (src/audio never depends on src/jobs).

/** `decoder_failed`: the decoder process itself failed (not the file): another attempt may work. */
export type AudioFailure = 'broken_audio' | 'no_audio' | 'too_long' | 'timed_out' | 'decoder_failed';

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
