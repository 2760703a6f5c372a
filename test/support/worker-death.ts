// A worker thread that dies mid-job, for fault tests. Worker.terminate() during an onnxruntime run
// aborts the whole process (see src/asr/native-runs.ts), test runner included; so the thread is told
// to stop, and ends itself at the end of the run in flight: mid-job, without a result, as a crash.
import type { Worker } from 'node:worker_threads';
import type { ToWorker } from '../../src/asr/protocol.js';

export function killMidJob(worker: Worker): Promise<number> {
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  worker.postMessage({ type: 'stop' } satisfies ToWorker);
  return exited;
}
