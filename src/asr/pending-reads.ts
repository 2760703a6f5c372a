// transformers.js 4 in Node opens a read stream on every model file it resolves (its FileResponse)
// and hands onnxruntime only the file's path: the stream is never consumed, yet it reads the whole
// file in 64 KB chunks whenever the event loop is free and holds every chunk until it reaches the
// end. Left alone, that happened beside the sessions being built and then during the first notes
// (base: ~3.5 MB more in use after each note, up to the decoder file's 53 MB; small's is 155 MB).
// Letting those reads finish while the model loads, and collecting, frees all of it there.

export interface SettledReads {
  waitedMs: number;
  /** False when requests were still pending at the limit. */
  settled: boolean;
}

const FS_REQUEST = 'FSReqCallback';

/** How long loading waits for transformers.js's reads of the model files: slow disks are let off. */
const MODEL_READS_LIMIT_MS = 15_000;

/** Resolves once no file-system request of this thread is pending, or after `limitMs`. */
export async function settlePendingReads(limitMs = MODEL_READS_LIMIT_MS): Promise<SettledReads> {
  const started = performance.now();
  const waitedMs = () => performance.now() - started;
  while (process.getActiveResourcesInfo().includes(FS_REQUEST)) {
    if (waitedMs() >= limitMs) return { waitedMs: waitedMs(), settled: false };
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { waitedMs: waitedMs(), settled: true };
}
