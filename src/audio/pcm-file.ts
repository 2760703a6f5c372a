// A decoded note stays on disk, in the 16-bit PCM file ffmpeg wrote (see pcm.ts), and every stage
// reads it a stretch at a time: the speech gate and Silero VAD in stretches, Whisper a window at a
// time. So no thread holds the whole note (19 MB for 10 minutes), a retry on a fresh worker reads
// the same file again, and a long note costs no more memory than a short one. The reads are
// synchronous: a window is under 1 MB from the page cache, and on the ASR worker's own thread.
import { closeSync, openSync, readSync } from 'node:fs';
import { BYTES_PER_SAMPLE, writeFloats } from './pcm.js';

/** A decoded note: its PCM file and how many samples it holds. Cheap to post to a worker. */
export interface PcmAudio {
  pcmPath: string;
  sampleCount: number;
}

/** A stretch of the note, in samples. */
export interface PcmPiece {
  offset: number;
  length: number;
}

export class PcmReader {
  private fd: number | undefined;

  constructor(private readonly audio: PcmAudio) {
    this.fd = openSync(audio.pcmPath, 'r');
  }

  get length(): number {
    return this.audio.sampleCount;
  }

  /** The samples of `piece` (clipped to the note) into `into`, which must hold them; the filled part is returned. */
  read(piece: PcmPiece, into: Int16Array = new Int16Array(piece.length)): Int16Array {
    if (this.fd === undefined) throw new Error(`${this.audio.pcmPath} is closed`);
    const count = Math.max(0, Math.min(piece.length, this.length - piece.offset));
    const bytes = new Uint8Array(into.buffer, into.byteOffset, count * BYTES_PER_SAMPLE);
    for (let at = 0; at < bytes.length; ) {
      const read = readSync(this.fd, bytes, at, bytes.length - at, piece.offset * BYTES_PER_SAMPLE + at);
      if (read === 0) throw new Error(`${this.audio.pcmPath} ended before sample ${piece.offset + count} of ${this.length}`);
      at += read;
    }
    return into.subarray(0, count);
  }

  /** The note from start to end in stretches of `size` samples (the last may be shorter), each over the same buffer. */
  *stretches(size: number): Generator<Int16Array> {
    const buffer = new Int16Array(size);
    for (let offset = 0; offset < this.length; offset += size) yield this.read({ offset, length: size }, buffer);
  }

  /** `pieces` back to back as the model's floats: one Whisper window. */
  floats(pieces: readonly PcmPiece[]): Float32Array {
    const audio = new Float32Array(pieces.reduce((sum, p) => sum + p.length, 0));
    let at = 0;
    for (const piece of pieces) {
      const samples = this.read(piece);
      writeFloats(samples, audio, at);
      at += samples.length;
    }
    return audio;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
