// What the command-line tools share with the bot: its configuration, the configured model
// (downloaded when missing) and a worker pool, without Telegram.
import { readCalibration } from '../asr/calibration.js';
import { MODEL_DTYPE } from '../asr/catalog.js';
import { ensureModel } from '../asr/model-store.js';
import { AsrPool } from '../asr/pool.js';
import type { WindowMode } from '../asr/encoder-window.js';
import { DecoderProcess } from '../audio/decoder-process.js';
import { findFfmpeg } from '../audio/ffmpeg.js';
import { loadConfig, type Config } from '../config.js';
import { memoryLimitMb, vcpus } from '../machine.js';

export interface LocalPool {
  config: Config;
  pool: AsrPool;
  /** ffmpeg, run as the bot runs it (see decoder-process.ts). */
  decoder: DecoderProcess;
  close(): Promise<void>;
}

/**
 * `onCreated` gets the close function as soon as there is something to close, so that the caller
 * can close it if starting fails. `window` overrides ASR_WINDOW (eval compares both).
 */
export async function startLocalPool(onCreated: (close: () => Promise<void>) => void, window?: WindowMode): Promise<LocalPool> {
  const config = loadConfig(process.env, { vcpus: vcpus(), memoryMb: memoryLimitMb() }, { requireToken: false, readCalibration });
  await ensureModel({ modelId: config.modelId, modelsDir: config.modelsDir, hubUrl: config.modelHubUrl, dtype: MODEL_DTYPE });
  const decoder = new DecoderProcess({ ffmpegPath: findFfmpeg(config.ffmpegPath).path });
  // Before the model loads, as the bot does.
  await decoder.start();
  const encoder = window ? { ...config.asrEncoder, window: { ...config.asrEncoder.window, mode: window } } : config.asrEncoder;
  const pool = new AsrPool({
    size: config.asrWorkers,
    init: { modelId: config.modelId, modelsDir: config.modelsDir, dtype: MODEL_DTYPE, threads: config.asrThreads, cpuArena: config.asrCpuArena, mapWeights: config.asrMapWeights, crossAttentionApart: config.asrCrossAttentionApart, encoder, decoding: config.asrDecoding },
    maxTasksPerWorker: 0,
    recycleRssMb: 0,
  });
  const close = async () => {
    await Promise.all([pool.close(), decoder.close()]);
  };
  onCreated(close);
  await pool.start();
  return { config, pool, decoder, close };
}
