// The VAD worker thread: loads Silero once, then scores the chunks of one note after another.
// A note arrives in chunks (so no second copy of a long note exists at once); the model's state
// runs on from chunk to chunk and is reset at a note's first chunk.
// The thread ends itself when told to stop, between two frames (see native-runs.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { stopBetweenRuns } from './native-runs.js';
import { SileroVad } from './silero-vad.js';
import type { FromVadWorker, ToVadWorker } from './vad-stage.js';

const port = parentPort;
if (!port) throw new Error('vad-worker.ts runs only as a worker thread');
const send = (message: FromVadWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

let vad: SileroVad;
try {
  vad = await SileroVad.load((workerData as { sampleRate: number }).sampleRate);
  send({ type: 'ready' });
} catch (error) {
  send({ type: 'load_failed', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}

port.on('message', async (message: ToVadWorker) => {
  if (message.type === 'stop') {
    stopBetweenRuns();
    return;
  }
  try {
    if (message.firstChunk) vad.reset();
    const probabilities = await vad.score(message.chunk.subarray(0, message.length));
    const { chunk } = message;
    send({ type: 'scored', requestId: message.requestId, probabilities, chunk }, [probabilities.buffer as ArrayBuffer, chunk.buffer as ArrayBuffer]);
  } catch (error) {
    send({ type: 'failed', requestId: message.requestId, message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
});
