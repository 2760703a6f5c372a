// Loading waits for transformers.js's unconsumed reads of the model files to end (pending-reads.ts):
// a stream read the way its FileResponse reads a file, whole, into chunks that no one consumes.
import { createReadStream, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { settlePendingReads } from '../src/asr/pending-reads.js';

describe('pending reads', () => {
  it('resolves only once a stream that no one consumes has read its whole file', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'pending-reads-')), 'model.onnx');
    const size = 8 * 2 ** 20;
    writeFileSync(file, Buffer.alloc(size, 7));
    const chunks: Buffer[] = [];
    let ended = false;
    const stream = createReadStream(file);
    stream.on('data', (chunk) => chunks.push(chunk as Buffer));
    stream.on('end', () => {
      ended = true;
    });
    // Let the stream open the file and ask for its first chunk, as it does before a session is built.
    await new Promise((resolve) => stream.once('open', resolve));
    const reads = await settlePendingReads(60_000);
    expect(reads.settled).toBe(true);
    expect(ended).toBe(true);
    expect(chunks.reduce((sum, c) => sum + c.length, 0)).toBe(size);
    // 64 KB at a time: the stream needed many turns of the event loop, and they were waited for.
    expect(chunks.length).toBeGreaterThan(100);
  });

  it('resolves at once when nothing is pending', async () => {
    expect((await settlePendingReads(60_000)).settled).toBe(true);
  });
});
