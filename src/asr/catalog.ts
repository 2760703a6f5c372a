// The Whisper models the bot knows by short name, and what each costs to run.

export interface ModelSpec {
  name: string;
  hubId: string;
  /**
   * Peak RSS in MB that one worker adds while transcribing, with the q8 files and the default memory
   * profile (the compose file's: arena off, glibc's own mmap threshold), so that `auto` never plans
   * for less than what runs; the lean profile needs 30–40% less. From `npm run bench` on this
   * project's machine (synthetic weights at real dimensions; bench/results/2gb-2vcpu.json, peak less
   * the 55 MB the process has before any worker). tiny was measured with an earlier worker (an
   * upper bound); medium was not measured: estimated from small by its weight size.
   */
  workerPeakMb: number;
  /** Parameters in millions (the published figures): what a model not in the speed table is estimated from. */
  paramsM: number;
}

export const MODEL_CATALOG: readonly ModelSpec[] = [
  { name: 'tiny', hubId: 'Xenova/whisper-tiny', workerPeakMb: 300, paramsM: 39 },
  { name: 'base', hubId: 'Xenova/whisper-base', workerPeakMb: 535, paramsM: 74 },
  { name: 'small', hubId: 'Xenova/whisper-small', workerPeakMb: 1_085, paramsM: 244 },
  { name: 'medium', hubId: 'Xenova/whisper-medium', workerPeakMb: 2_780, paramsM: 769 },
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

function onnxFiles(dtype: string = MODEL_DTYPE): string[] {
  const suffix = dtype === 'q8' ? '_quantized' : dtype === 'fp32' ? '' : `_${dtype}`;
  return [`onnx/encoder_model${suffix}.onnx`, `onnx/decoder_model_merged${suffix}.onnx`];
}

export function modelFiles(dtype: string = MODEL_DTYPE): string[] {
  return [...MODEL_METADATA_FILES, ...onnxFiles(dtype)];
}
