// The Whisper models the bot knows by short name, and what each costs to run.

export interface ModelSpec {
  name: string;
  hubId: string;
  /**
   * Peak RSS in MB that one worker adds while transcribing, with the q8 files and the lean memory
   * profile: `npm run bench` on this project's machine (synthetic weights at the real dimensions,
   * bench/results/host-lean.json, peak less the 55 MB the process has before any worker).
   * medium was not measured: estimated from small by its weight size.
   */
  workerPeakMb: number;
}

export const MODEL_CATALOG: readonly ModelSpec[] = [
  { name: 'tiny', hubId: 'Xenova/whisper-tiny', workerPeakMb: 300 },
  { name: 'base', hubId: 'Xenova/whisper-base', workerPeakMb: 490 },
  { name: 'small', hubId: 'Xenova/whisper-small', workerPeakMb: 820 },
  { name: 'medium', hubId: 'Xenova/whisper-medium', workerPeakMb: 2_100 },
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
