// Writes a synthetic Whisper model folder in exactly the hub's layout: the real public
// metadata files, plus ONNX weights of the real architecture with seeded random values.
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { buildEncoder, buildMergedDecoder, type DecoderOptions, type WeightFormat, type WhisperDims } from './whisper-graph.js';

export const PRESETS = ['test-tiny', 'tiny', 'base', 'small', 'medium'] as const;
export type Preset = (typeof PRESETS)[number];

/** The hub's file-name suffixes; `q8` is the hub's `_quantized` (uint8 encoder, int8 decoder). */
export const DTYPES = ['q8', 'int8', 'fp32'] as const;
export type Dtype = (typeof DTYPES)[number];

const SUFFIX: Record<Dtype, string> = { q8: '_quantized', int8: '_int8', fp32: '' };
const ENCODER_FORMAT: Record<Dtype, WeightFormat> = { q8: 'uint8', int8: 'int8', fp32: 'fp32' };
const DECODER_FORMAT: Record<Dtype, WeightFormat> = { q8: 'int8', int8: 'int8', fp32: 'fp32' };

interface PresetSpec {
  /** Folder under shared/whisper-meta whose files are copied. */
  meta: string;
  /** Dimensions written over the copied config.json; only where they differ from the source. */
  override?: { d_model: number; encoder_layers: number; decoder_layers: number; heads: number };
}

const SPECS: Record<Preset, PresetSpec> = {
  'test-tiny': { meta: 'whisper-tiny', override: { d_model: 64, encoder_layers: 1, decoder_layers: 1, heads: 2 } },
  tiny: { meta: 'whisper-tiny' },
  base: { meta: 'whisper-base' },
  small: { meta: 'whisper-small' },
  // No public medium metadata here: the multilingual tokenizer and generation config are shared across sizes.
  medium: { meta: 'whisper-small', override: { d_model: 1024, encoder_layers: 24, decoder_layers: 24, heads: 16 } },
};

export function whisperMetaRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return process.env.WHISPER_META_DIR ?? path.resolve(here, '../../../shared/whisper-meta');
}

export interface SynthOptions {
  preset: Preset;
  out: string;
  dtypes?: Dtype[];
  seed?: number;
  metaRoot?: string;
  decoder?: DecoderOptions;
}

export interface SynthResult {
  dims: WhisperDims;
  files: string[];
}

type Config = Record<string, unknown>;

function dimsOf(config: Config): WhisperDims {
  const n = (key: string) => {
    const v = config[key];
    if (typeof v !== 'number') throw new Error(`config.json has no numeric ${key}`);
    return v;
  };
  return {
    dModel: n('d_model'),
    encoderLayers: n('encoder_layers'),
    decoderLayers: n('decoder_layers'),
    heads: n('encoder_attention_heads'),
    ffn: n('encoder_ffn_dim'),
    vocab: n('vocab_size'),
    melBins: n('num_mel_bins'),
    sourcePositions: n('max_source_positions'),
    targetPositions: n('max_target_positions'),
  };
}

export async function synthesizeModel(options: SynthOptions): Promise<SynthResult> {
  const spec = SPECS[options.preset];
  const metaDir = path.join(options.metaRoot ?? whisperMetaRoot(), spec.meta);
  const seed = options.seed ?? 1;
  const dtypes = options.dtypes ?? ['q8'];
  await mkdir(path.join(options.out, 'onnx'), { recursive: true });

  const files: string[] = [];
  for (const name of await readdir(metaDir)) {
    if (name === 'config.json') continue;
    await copyFile(path.join(metaDir, name), path.join(options.out, name));
    files.push(name);
  }
  const config = JSON.parse(await readFile(path.join(metaDir, 'config.json'), 'utf8')) as Config;
  if (spec.override) {
    const o = spec.override;
    Object.assign(config, {
      d_model: o.d_model,
      encoder_layers: o.encoder_layers,
      decoder_layers: o.decoder_layers,
      num_hidden_layers: o.encoder_layers,
      encoder_attention_heads: o.heads,
      decoder_attention_heads: o.heads,
      encoder_ffn_dim: 4 * o.d_model,
      decoder_ffn_dim: 4 * o.d_model,
    });
    // alignment heads name layers the smaller model does not have
    delete config.alignment_heads;
  }
  await writeFile(path.join(options.out, 'config.json'), JSON.stringify(config, null, 2));
  files.push('config.json');

  const dims = dimsOf(config);
  for (const dtype of dtypes) {
    const encoder = `onnx/encoder_model${SUFFIX[dtype]}.onnx`;
    await writeFile(path.join(options.out, encoder), buildEncoder(dims, ENCODER_FORMAT[dtype], seed));
    const decoder = `onnx/decoder_model_merged${SUFFIX[dtype]}.onnx`;
    await writeFile(path.join(options.out, decoder), buildMergedDecoder(dims, DECODER_FORMAT[dtype], seed, options.decoder));
    files.push(encoder, decoder);
  }
  return { dims, files: files.sort() };
}
