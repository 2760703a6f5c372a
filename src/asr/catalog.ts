// The Whisper models the bot knows by short name, and what each costs to run.

export interface ModelSpec {
  name: string;
  hubId: string;
  /**
   * Peak RSS in MB that one worker adds while transcribing, with the q8 files and the defaults (fused
   * attention, weights mapped, the image's glibc settings; the full window or `fit`), so that `auto`
   * never plans for less than what runs. From `npm run bench` on this project's machine (synthetic
   * weights at real dimensions): the highest peak of the current code's runs less what the bench's
   * process held before any worker (tiny: host-2vcpu-catalog-tiny-own-loader.json, three runs; base
   * and small: *-rows-own-loader.json, *-own-loader-600s-*.json (one of them three runs), checked by
   * test/model-choice.test.ts). medium was not measured: small's figure scaled by parameters, which
   * overstates it (Node's and onnxruntime's share does not grow).
   */
  workerPeakMb: number;
  /** Parameters in millions (the published figures): what a model not in the speed table is estimated from. */
  paramsM: number;
}

export const MODEL_CATALOG: readonly ModelSpec[] = [
  { name: 'tiny', hubId: 'Xenova/whisper-tiny', workerPeakMb: 167, paramsM: 39 },
  { name: 'base', hubId: 'Xenova/whisper-base', workerPeakMb: 244, paramsM: 74 },
  { name: 'small', hubId: 'Xenova/whisper-small', workerPeakMb: 482, paramsM: 244 },
  { name: 'medium', hubId: 'Xenova/whisper-medium', workerPeakMb: 1_518, paramsM: 769 },
];

/** The bot's main thread with every module, the database and metrics, before any worker: 75 MB measured. */
export const BOT_BASELINE_MB = 80;

/** Files the ASR worker loads, beside the two ONNX files of the chosen dtype. */
const MODEL_METADATA_FILES = [
  'config.json',
  'generation_config.json',
  'preprocessor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
] as const;

export const MODEL_DTYPE = 'q8';

/** The two ONNX files of a Whisper model the worker loads. */
export type ModelSession = 'encoder_model' | 'decoder_model_merged';

/** The hub's file of a session in a dtype, named as transformers.js names them (q8: `_quantized`, fp32: none). */
export function onnxFile(session: ModelSession, dtype: string = MODEL_DTYPE): string {
  const suffix = dtype === 'q8' ? '_quantized' : dtype === 'fp32' ? '' : `_${dtype}`;
  return `onnx/${session}${suffix}.onnx`;
}

export function modelFiles(dtype: string = MODEL_DTYPE): string[] {
  return [...MODEL_METADATA_FILES, onnxFile('encoder_model', dtype), onnxFile('decoder_model_merged', dtype)];
}
