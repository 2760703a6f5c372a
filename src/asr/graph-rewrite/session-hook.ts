// Where onnxruntime sessions are created with rewritten graphs. transformers.js 4 in Node hands
// onnxruntime-node the model's file path (InferenceSession.create(path, options), through its own
// require of onnxruntime-node); while a model loads, that static method is wrapped so that the
// encoder's session is created from rewritten bytes instead. Nothing else changes: every other
// file, and every call outside `withRewrittenEncoder`, reaches onnxruntime untouched.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { isEncoderFile, rewriteEncoder, type EncoderRewrites } from './encoder-rewrite.js';

type Create = (...args: unknown[]) => Promise<unknown>;
interface SessionClass {
  create: Create;
}

// The same module instance transformers.js loads (Node caches CommonJS modules by real path).
const ort = createRequire(import.meta.url)('onnxruntime-node') as { InferenceSession: SessionClass };

export interface EncoderLoad {
  /** Whether the encoder session accepts windows shorter than 30 s. */
  fitsWindow: boolean;
  notes: string[];
}

/**
 * Runs `load` (which creates sessions through transformers.js) with the encoder rewritten as
 * asked. A rewrite that fails in any way falls back to the file as it is, with the reason in
 * `notes`: a model from the hub never fails to load because of this.
 */
export async function withRewrittenEncoder<T>(wanted: EncoderRewrites, load: () => Promise<T>): Promise<{ value: T } & EncoderLoad> {
  const result: EncoderLoad = { fitsWindow: false, notes: [] };
  if (!wanted.fuseAttention && !wanted.fitWindow) return { value: await load(), ...result };
  const sessions = ort.InferenceSession;
  const original = sessions.create;
  sessions.create = async (...args: unknown[]) => {
    const [file, options] = args;
    if (typeof file !== 'string' || !isEncoderFile(path.basename(file))) return original.apply(sessions, args);
    let rewritten;
    try {
      rewritten = rewriteEncoder(await readFile(file), wanted);
    } catch (error) {
      result.notes.push(`encoder not rewritten, loaded as it is: ${error instanceof Error ? error.message : String(error)}`);
      return original.apply(sessions, args);
    }
    result.notes.push(...rewritten.notes);
    if (!rewritten.bytes) return original.apply(sessions, args);
    try {
      const session = await original.call(sessions, rewritten.bytes, options);
      result.fitsWindow = rewritten.fitsWindow;
      return session;
    } catch (error) {
      result.notes.push(`onnxruntime refused the rewritten encoder, loaded as it is: ${error instanceof Error ? error.message : String(error)}`);
      return original.apply(sessions, args);
    }
  };
  try {
    return { value: await load(), ...result };
  } finally {
    sessions.create = original;
  }
}
