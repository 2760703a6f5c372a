// Memory stays flat over many voice notes: a leak test, not a timing.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedModelsRoot, REPO, TEST_MODEL_ID } from './support/test-model.js';

describe('memory over 200 voice notes', () => {
  it('does not grow: the last 100 notes peak within 5% (and 25 MB) of the first 100', async () => {
    const root = await cachedModelsRoot();
    // Asynchronously: a synchronous child would block this test worker's event loop for minutes.
    const { stdout: out } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(REPO, 'test/support/leak-probe.ts'), root, TEST_MODEL_ID, '200'], {
      cwd: REPO,
      // The lean profile: the one that must return memory to the OS between notes.
      env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '131072' },
      encoding: 'utf8',
    });
    const rss = JSON.parse(out.split('\n').find((l) => l.startsWith('RSS '))!.slice(4)) as number[];
    expect(rss).toHaveLength(200);
    // The first notes warm up allocator pools and JIT: compare peaks of the two halves after them.
    const first = Math.max(...rss.slice(10, 100));
    const last = Math.max(...rss.slice(100));
    expect(last).toBeLessThan(first * 1.05);
    expect(last - first).toBeLessThan(25);
  }, 360_000); // 200 notes take 1.5–2 minutes on two cores; the bound is on memory, not time
});
