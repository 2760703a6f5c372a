// The speech stage with Silero VAD: scores a note's frames and plans Whisper's windows from the
// speech it finds. It runs inside the ASR worker, on the note the worker reads for the
// transcription: a thread of its own cost ~10 MB (an isolate, and onnxruntime's binding in it) for
// well under a millisecond of work per second of audio.
import type { PcmReader } from '../audio/pcm-file.js';
import type { SileroVad } from './silero-vad.js';
import { speechSamples, speechSegments, type VadOptions } from './vad-segments.js';
import { planSpeechWindows, type SpeechPlan } from './window-plan.js';

export async function findSpeech(vad: SileroVad, pcm: PcmReader, options: VadOptions, sampleRate: number): Promise<SpeechPlan> {
  const started = performance.now();
  vad.reset();
  const probabilities = await vad.score(pcm);
  const segments = speechSegments(probabilities, pcm.length, sampleRate, options);
  const first = segments[0];
  const last = segments.at(-1);
  return {
    windows: planSpeechWindows(segments, sampleRate),
    speechSeconds: speechSamples(segments) / sampleRate,
    vadMs: performance.now() - started,
    speechExtent: first && last ? { start: first.start / sampleRate, end: last.end / sampleRate } : null,
  };
}
