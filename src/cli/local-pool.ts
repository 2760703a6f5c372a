// What the command-line tools share with the bot: its configuration, the configured model
// (downloaded when missing) and a worker pool, without Telegram.
import { readCalibration } from '../asr/calibration.js';
import { MODEL_DTYPE } from '../asr/catalog.js';
import { ensureModel } from '../asr/model-store.js';
import { AsrPool } from '../asr/pool.js';
import { findFfmpeg } from '../audio/ffmpeg.js';
import { loadConfig, type Config } from '../config.js';
import { memoryLimitMb, vcpus } from '../machine.js';

export interface LocalPool {
  config: Config;
  pool: AsrPool;
  ffmpegPath: string;
}

/** The pool is handed over as soon as it exists, so that the caller can close it if starting fails. */
export async function startLocalPool(onCreated: (pool: AsrPool) => void): Promise<LocalPool> {
  const config = loadConfig(process.env, { vcpus: vcpus(), memoryMb: memoryLimitMb() }, { requireToken: false, readCalibration });
  await ensureModel({ modelId: config.modelId, modelsDir: config.modelsDir, hubUrl: config.modelHubUrl, dtype: MODEL_DTYPE });
  const ffmpegPath = findFfmpeg().path;
  const pool = new AsrPool({
    size: config.asrWorkers,
    init: { modelId: config.modelId, modelsDir: config.modelsDir, dtype: MODEL_DTYPE, threads: config.asrThreads, cpuArena: config.asrCpuArena, encoder: config.asrEncoder, decoding: config.asrDecoding },
    maxTasksPerWorker: 0,
    recycleRssMb: 0,
  });
  onCreated(pool);
  await pool.start();
  return { config, pool, ffmpegPath };
}
