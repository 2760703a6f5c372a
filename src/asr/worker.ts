// The ASR worker thread: loads the model (and Silero VAD when it is on) once, then transcribes what
// the pool sends, one at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { PcmReader } from '../audio/pcm-file.js';
import { stopBetweenRuns } from './native-runs.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';
import { SileroVad } from './silero-vad.js';
import { findSpeech } from './vad-stage.js';
import { WhisperRunner } from './whisper-runner.js';

const port = parentPort;
if (!port) throw new Error('worker.ts runs only as a worker thread');
const send = (message: FromWorker) => port.postMessage(message);
const init = workerData as WorkerInit;

let runner: WhisperRunner;
let vad: SileroVad | undefined;
try {
  runner = await WhisperRunner.load(init);
  vad = init.vad ? await SileroVad.load(runner.sampleRate).catch((error: unknown) => Promise.reject(new Error(`Silero VAD: ${error instanceof Error ? error.message : String(error)}`))) : undefined;
  send({ type: 'ready', loadMs: runner.loadMs, loadNotes: vad ? [...runner.loadNotes, vad.loadNote] : runner.loadNotes });
} catch (error) {
  send({ type: 'load_failed', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}

port.on('message', async (message: ToWorker) => {
  if (message.type === 'stop') {
    stopBetweenRuns();
    return;
  }
  const { requestId, audio, request } = message;
  let pcm: PcmReader | undefined;
  try {
    pcm = new PcmReader(audio);
    const speech = vad && init.vad && !request.windows ? await findSpeech(vad, pcm, init.vad, runner.sampleRate) : undefined;
    // With no speech found, the plan has no windows: the runner's window loop then runs no Whisper at all.
    const result = await runner.transcribe(pcm, { ...request, windows: speech?.windows ?? request.windows }, (chunksDone, chunksTotal) =>
      send({ type: 'progress', requestId, chunksDone, chunksTotal }),
    );
    send({ type: 'result', requestId, result, ...(speech ? { speech } : {}) });
  } catch (error) {
    send({ type: 'failed', requestId, message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  } finally {
    pcm?.close();
  }
});
