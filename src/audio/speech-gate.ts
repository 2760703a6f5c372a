// Is there enough sound in a clip to be worth running Whisper on it? The speech stage with VAD=off:
// Whisper invents sentences for silence ("Thank you for watching."); a cheap RMS gate avoids that,
// though noise and music pass it (Silero VAD, the default, tells them from speech).
import { fixedWindows, type SpeechPlan, type SpeechStage } from '../asr/window-plan.js';
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

function voicedSeconds(samples: Int16Array, sampleRate: number): number {
  const frame = Math.max(1, Math.round(FRAME_SECONDS * sampleRate));
  let voicedFrames = 0;
  for (let start = 0; start < samples.length; start += frame) {
    if (frameRms(samples, start, Math.min(samples.length, start + frame)) >= VOICED_FRAME_RMS) voicedFrames++;
  }
  return (voicedFrames * frame) / sampleRate;
}

export function hasSpeech(samples: Int16Array, sampleRate: number): boolean {
  return voicedSeconds(samples, sampleRate) >= MIN_VOICED_SECONDS;
}

/** VAD=off: today's gate and today's fixed 30-s windows over the whole note. */
export class RmsSpeechGate implements SpeechStage {
  constructor(private readonly sampleRate: number) {}

  async plan(samples: Int16Array): Promise<SpeechPlan> {
    const speech = hasSpeech(samples, this.sampleRate);
    return {
      windows: speech ? fixedWindows(0, samples.length, this.sampleRate) : [],
      speechSeconds: null,
      vadMs: null,
      speechExtent: speech ? { start: 0, end: samples.length / this.sampleRate } : null,
    };
  }

  async close(): Promise<void> {}
}
