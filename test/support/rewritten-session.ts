// One session created through RewrittenSessions, with the notes its load left.
import type ort from 'onnxruntime-node';
import { RewrittenSessions, type ModelRewrites } from '../../src/asr/graph-rewrite/rewritten-sessions.js';

export async function createRewritten(wanted: ModelRewrites, file: string, options: ort.InferenceSession.SessionOptions): Promise<{ value: ort.InferenceSession; notes: string[] }> {
  const sessions = new RewrittenSessions(wanted, () => {});
  const value = await sessions.create(file, options);
  return { value, notes: sessions.load.notes };
}
