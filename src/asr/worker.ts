// The ASR worker thread: loads the model once, then transcribes what the pool sends, one at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { stopBetweenRuns } from './native-runs.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';
import { WhisperRunner } from './whisper-runner.js';

const port = parentPort;
if (!port) throw new Error('worker.ts runs only as a worker thread');
const send = (message: FromWorker) => port.postMessage(message);

let runner: WhisperRunner;
try {
  runner = await WhisperRunner.load(workerData as WorkerInit);
  send({ type: 'ready', loadMs: runner.loadMs, loadNotes: runner.loadNotes });
} catch (error) {
  send({ type: 'load_failed', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}

port.on('message', async (message: ToWorker) => {
  if (message.type === 'stop') {
    stopBetweenRuns();
    return;
  }
  const { requestId } = message;
  try {
    const result = await runner.transcribe(message.samples, message.request, (chunksDone, chunksTotal) =>
      send({ type: 'progress', requestId, chunksDone, chunksTotal }),
    );
    send({ type: 'result', requestId, result });
  } catch (error) {
    send({ type: 'failed', requestId, message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
});
