// The test-tiny synthetic model, generated once and cached under .cache/ (keyed by the generator's source).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthesizeModel, type SynthOptions } from '../../bench/synth/model-folder.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TEST_MODEL_ID = 'voicebot-test/whisper-test-tiny';

function generatorHash(extra: string): string {
  const dir = path.join(REPO, 'bench/synth');
  const hash = createHash('sha256').update(extra);
  for (const f of readdirSync(dir).sort()) hash.update(readFileSync(path.join(dir, f)));
  return hash.digest('hex').slice(0, 16);
}

/**
 * A models root (<root>/<org>/<name>/...) holding `modelId` generated with `options`.
 * Concurrent test files may race: each writes to its own temp folder and renames it into place.
 */
export async function cachedModelsRoot(modelId = TEST_MODEL_ID, options: Partial<SynthOptions> = {}): Promise<string> {
  const key = generatorHash(JSON.stringify({ modelId, ...options, out: undefined }));
  const root = path.join(REPO, '.cache/test-models', key);
  const dir = path.join(root, ...modelId.split('/'));
  if (existsSync(path.join(dir, 'onnx'))) return root;
  const temp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await synthesizeModel({ preset: 'test-tiny', ...options, out: temp });
  try {
    await rename(temp, dir);
  } catch {
    await rm(temp, { recursive: true, force: true }); // another test file won the race
  }
  return root;
}
