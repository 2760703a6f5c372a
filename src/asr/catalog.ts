// The Whisper models the bot knows by short name, and what each costs to run.

export interface ModelSpec {
  name: string;
  hubId: string;
  /**
   * Peak RSS in MB that one worker adds while transcribing with the q8 files and onnxruntime's
   * CPU arena off (the default). Measured with `npm run bench` at the real dimensions; see README.
   */
  workerPeakMb: number;
}

export const MODEL_CATALOG: readonly ModelSpec[] = [
  { name: 'tiny', hubId: 'Xenova/whisper-tiny', workerPeakMb: 250 },
  { name: 'base', hubId: 'Xenova/whisper-base', workerPeakMb: 450 },
  { name: 'small', hubId: 'Xenova/whisper-small', workerPeakMb: 1_100 },
  { name: 'medium', hubId: 'Xenova/whisper-medium', workerPeakMb: 2_900 },
];

/** What the bot process costs without any model: Node, grammY, SQLite, ffmpeg pipes. */
export const BOT_BASELINE_MB = 120;

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
