// Pure: 32-bit float PCM bytes, as ffmpeg streams them, gathered into one buffer sized ahead.

const BYTES_PER_SAMPLE = 4;
/** Growth when the audio is longer than announced: few copies, little slack. */
const GROWTH = 1.5;

/**
 * One ArrayBuffer, allocated for the length the audio is expected to have, written in place as
 * chunks arrive (chunk edges may split a sample) and grown by copying only when the audio runs
 * longer. Its samples are handed on without another copy, so it can be transferred to a worker.
 */
export class PcmBuffer {
  private bytes: Uint8Array;
  private used = 0;
  private received = 0;
  /** How many times the audio outgrew the buffer (each a copy). */
  grows = 0;

  constructor(
    expectedSamples: number,
    /** Never grows past this many samples; what arrives beyond it is counted, not kept. */
    private readonly capacityLimit: number,
  ) {
    this.bytes = new Uint8Array(Math.max(1, Math.min(expectedSamples, capacityLimit)) * BYTES_PER_SAMPLE);
  }

  /** Samples received, kept or not. */
  get samplesReceived(): number {
    return Math.floor(this.received / BYTES_PER_SAMPLE);
  }

  get capacityBytes(): number {
    return this.bytes.byteLength;
  }

  append(chunk: Uint8Array): void {
    this.received += chunk.byteLength;
    const room = this.capacityLimit * BYTES_PER_SAMPLE - this.used;
    const kept = chunk.byteLength <= room ? chunk : chunk.subarray(0, Math.max(0, room));
    if (this.used + kept.byteLength > this.bytes.byteLength) this.grow(this.used + kept.byteLength);
    this.bytes.set(kept, this.used);
    this.used += kept.byteLength;
  }

  private grow(neededBytes: number): void {
    const limit = this.capacityLimit * BYTES_PER_SAMPLE;
    const size = Math.min(limit, Math.max(neededBytes, Math.ceil((this.bytes.byteLength * GROWTH) / BYTES_PER_SAMPLE) * BYTES_PER_SAMPLE));
    const bigger = new Uint8Array(size);
    bigger.set(this.bytes.subarray(0, this.used));
    this.bytes = bigger;
    this.grows++;
  }

  /** The whole samples received so far, over this buffer's own memory (no copy). */
  samples(): Float32Array {
    return new Float32Array(this.bytes.buffer, 0, Math.floor(this.used / BYTES_PER_SAMPLE));
  }
}
