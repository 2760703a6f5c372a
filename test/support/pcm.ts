// Audio made in code, handed on as decoded audio is: 16-bit samples (see src/audio/pcm.ts).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PcmReader, type PcmAudio } from '../../src/audio/pcm-file.js';
import { FULL_SCALE } from '../../src/audio/pcm.js';

/** The nearest 16-bit sample for each float in [-1, 1), clipped to full scale. */
function pcmFromFloats(floats: ArrayLike<number>): Int16Array {
  const samples = new Int16Array(floats.length);
  for (let i = 0; i < floats.length; i++) samples[i] = Math.max(-FULL_SCALE, Math.min(FULL_SCALE - 1, Math.round(floats[i]! * FULL_SCALE)));
  return samples;
}

/** `seconds` of a synthetic signal at 16 kHz: `at(i)` is sample i as a float. */
export const synthPcm = (seconds: number, at: (i: number) => number): Int16Array => pcmFromFloats(Float32Array.from({ length: Math.round(seconds * 16000) }, (_, i) => at(i)));

// Under the run's temporary folder (test/support/run-tmp.ts), which goes when the run ends: the
// leak probe, which the memory test starts, inherits it.
const dir = mkdtempSync(path.join(os.tmpdir(), 'voicebot-test-pcm-'));
let files = 0;

/** `samples` as a decoded note: its PCM file, as the decoder leaves it for the pool. */
export function pcmFile(samples: Int16Array): PcmAudio {
  const pcmPath = path.join(dir, `${files++}.s16`);
  writeFileSync(pcmPath, new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength));
  return { pcmPath, sampleCount: samples.length };
}

/** A reader over `samples` written to a file, for the stages that run inside the worker. */
export const pcmReader = (samples: Int16Array) => new PcmReader(pcmFile(samples));

/** All of a decoded note's samples, read back from its file. */
export function samplesOf(audio: PcmAudio): Int16Array {
  const bytes = readFileSync(audio.pcmPath);
  return new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + audio.sampleCount * 2));
}
