// Is there enough sound in a clip to be worth running Whisper on it? The speech stage with VAD=off:
// Whisper invents sentences for silence ("Thank you for watching."); a cheap RMS gate avoids that,
// though noise and music pass it (Silero VAD, the default, tells them from speech).
import { fixedWindows, type SpeechPlan, type SpeechStage } from '../asr/window-plan.js';
import { PcmReader, type PcmAudio } from './pcm-file.js';
import { FULL_SCALE } from './pcm.js';

const FRAME_SECONDS = 0.03;
/** -40 dBFS: quieter than any voice note spoken into a phone, louder than a quiet room's hiss. */
const VOICED_FRAME_RMS = 0.01;
/** Less than this much voiced audio is answered with "no speech detected". */
const MIN_VOICED_SECONDS = 0.2;

/** RMS over full scale (1 for a full-scale square wave). */
function frameRms(samples: Int16Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i++) {
    const s = samples[i]!;
    sum += s * s;
  }
  return end > start ? Math.sqrt(sum / (end - start)) / FULL_SCALE : 0;
}

const frameSamples = (sampleRate: number) => Math.max(1, Math.round(FRAME_SECONDS * sampleRate));

/**
 * The note in `stretches`, one after another: each but the last must hold whole frames (see
 * gateStretchSamples), so that the frames fall where they would on the whole note.
 */
export function hasSpeech(stretches: Iterable<Int16Array>, sampleRate: number): boolean {
  const frame = frameSamples(sampleRate);
  let voicedFrames = 0;
  for (const samples of stretches) {
    for (let start = 0; start < samples.length; start += frame) {
      if (frameRms(samples, start, Math.min(samples.length, start + frame)) >= VOICED_FRAME_RMS) voicedFrames++;
    }
  }
  return (voicedFrames * frame) / sampleRate >= MIN_VOICED_SECONDS;
}

/** Stretches of 1000 frames (30 s) read from the note's file at a time. */
export const gateStretchSamples = (sampleRate: number) => 1000 * frameSamples(sampleRate);

/** VAD=off: today's gate and today's fixed 30-s windows over the whole note. */
export class RmsSpeechGate implements SpeechStage {
  constructor(private readonly sampleRate: number) {}

  async plan(audio: PcmAudio): Promise<SpeechPlan> {
    const pcm = new PcmReader(audio);
    let speech: boolean;
    try {
      speech = hasSpeech(pcm.stretches(gateStretchSamples(this.sampleRate)), this.sampleRate);
    } finally {
      pcm.close();
    }
    return {
      windows: speech ? fixedWindows(0, pcm.length, this.sampleRate) : [],
      speechSeconds: null,
      vadMs: null,
      speechExtent: speech ? { start: 0, end: pcm.length / this.sampleRate } : null,
    };
  }

  async close(): Promise<void> {}
}
