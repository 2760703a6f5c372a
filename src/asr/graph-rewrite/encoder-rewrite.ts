// The rewrites applied to a Whisper encoder when it is loaded. The hub's file on disk is never
// changed; each rewrite either applies exactly or leaves the graph as it was and says why.
import type { Model } from './onnx-graph.js';
import { fuseSelfAttention } from './fused-attention.js';
import { slicePositionalTable } from './sliced-positions.js';

export interface EncoderRewrites {
  /** Self-attention as com.microsoft.MultiHeadAttention. */
  fuseAttention: boolean;
  /** Accept fewer than 3000 input frames (ASR_WINDOW=fit). */
  fitWindow: boolean;
}

export interface RewrittenEncoder {
  /** Whether any rewrite applied (the model was changed in place). */
  changed: boolean;
  /** Whether the encoder now accepts windows shorter than 30 s. */
  fitsWindow: boolean;
  /** What was done, and why anything asked for was not: for the operator's log. */
  notes: string[];
}

/** encoder_model.onnx, encoder_model_quantized.onnx, encoder_model_fp16.onnx, ... */
export const isEncoderFile = (fileName: string): boolean => /^encoder_model(_[a-z0-9]+)?\.onnx$/.test(fileName);

export function rewriteEncoder(model: Model, wanted: EncoderRewrites): RewrittenEncoder {
  const notes: string[] = [];
  let changed = false;
  let fitsWindow = false;
  if (wanted.fuseAttention) {
    const fused = fuseSelfAttention(model);
    notes.push(fused.applied ? `encoder: ${fused.note}` : `encoder attention left unfused: ${fused.reason}`);
    changed ||= fused.applied;
  }
  if (wanted.fitWindow) {
    const sliced = slicePositionalTable(model);
    notes.push(sliced.applied ? `encoder: ${sliced.note}` : `ASR_WINDOW=fit not possible, full 30-s windows: ${sliced.reason}`);
    changed ||= sliced.applied;
    fitsWindow = sliced.applied;
  }
  return { changed, fitsWindow, notes };
}
