// The transcription machinery of one process: the decoder process (ffmpeg), the ASR worker pool and
// the speech stage, the model downloaded when missing. ROLE=all and ROLE=worker start and watch it
// the same way.
import os from 'node:os';
import type { Logger } from 'pino';
import { MODEL_DTYPE } from '../asr/catalog.js';
import { ensureModel, ModelDownloadError } from '../asr/model-store.js';
import { AsrPool } from '../asr/pool.js';
import type { SpeechStage } from '../asr/window-plan.js';
import { DecoderProcess } from '../audio/decoder-process.js';
import { findFfmpeg, PCM_FILE_PREFIX } from '../audio/ffmpeg.js';
import { SAMPLE_RATE } from '../audio/pcm.js';
import { RmsSpeechGate } from '../audio/speech-gate.js';
import type { Config } from '../config.js';
import { DOWNLOAD_FILE_PREFIX } from '../bot/telegram-files.js';
import { LocalTranscriber } from '../jobs/local-transcriber.js';
import { scratchLifetimeMs, sweepStaleScratch } from '../jobs/scratch-files.js';
import type { Metrics } from '../metrics/metrics.js';
import { vcpus } from '../machine.js';

/** The `starting` log line's account of transcription: model and why, pool shape, memory profile, VAD, limits. */
export function describeAsr(config: Config): Record<string, unknown> {
  return {
    model: config.modelId,
    modelReason: config.modelReason,
    workers: config.asrWorkers,
    threads: config.asrThreads,
    cpuArena: config.asrCpuArena,
    mapWeights: config.asrMapWeights,
    crossAttentionApart: config.asrCrossAttentionApart,
    encoder: config.asrEncoder,
    malloc: Object.keys(config.malloc).length > 0 ? config.malloc : 'glibc defaults (dynamic mmap threshold)',
    vad: config.vad ?? 'off (RMS gate, fixed 30-s windows)',
    vcpus: vcpus(),
    maxAudioSeconds: config.maxAudioSeconds,
  };
}

export interface AsrStackOptions {
  config: Config;
  log: Logger;
  metrics: Metrics;
  /** Every worker and decoder process exit, after it is counted and logged (the bot records them in lifecycle_events). */
  record?: (kind: 'worker_exit' | 'decoder_exit', detail: Record<string, unknown>) => void;
}

export class AsrStack {
  readonly decoder: DecoderProcess;
  readonly pool: AsrPool;
  /** The RMS gate with VAD=off; null when the workers find the speech with Silero VAD. */
  readonly speech: SpeechStage | null;
  private loadMs?: number;

  /** Throws when no ffmpeg runs (FFMPEG_PATH, the system's, the bundled one). */
  constructor(private readonly options: AsrStackOptions) {
    const { config, log, metrics } = options;
    const ffmpeg = findFfmpeg(config.ffmpegPath);
    log.info({ ffmpeg: ffmpeg.path, source: ffmpeg.source }, 'ffmpeg found');
    this.decoder = new DecoderProcess({
      ffmpegPath: ffmpeg.path,
      onExit: (detail) => {
        metrics.errors.inc({ where: 'decoder_process' });
        options.record?.('decoder_exit', { detail });
        log.error({ detail }, 'the decoder process ended: it starts again for the next note');
      },
    });
    this.pool = new AsrPool({
      size: config.asrWorkers,
      init: { modelId: config.modelId, modelsDir: config.modelsDir, dtype: MODEL_DTYPE, threads: config.asrThreads, cpuArena: config.asrCpuArena, mapWeights: config.asrMapWeights, crossAttentionApart: config.asrCrossAttentionApart, encoder: config.asrEncoder, decoding: config.asrDecoding, ...(config.vad ? { vad: config.vad } : {}) },
      maxTasksPerWorker: config.workerMaxJobs,
      recycleRssMb: config.workerRecycleRssMb,
    });
    this.speech = config.vad ? null : new RmsSpeechGate(SAMPLE_RATE);
    this.pool.on('worker_ready', ({ workerId, loadMs, loadNotes }) => {
      this.loadMs = loadMs;
      metrics.modelLoadSeconds.set({ model: config.modelId }, loadMs / 1000);
      log.info({ workerId, loadMs: Math.round(loadMs), graph: loadNotes }, 'ASR worker ready');
    });
    this.pool.on('worker_exit', (exit) => {
      metrics.workerRestarts.inc({ reason: exit.reason });
      if (exit.reason === 'timed_out') metrics.deadlinesExceeded.inc({ stage: 'transcribe' });
      options.record?.('worker_exit', exit);
      if (exit.reason === 'recycled') log.info(exit, 'ASR worker recycled');
      else log.error(exit, exit.reason === 'out_of_memory' ? 'ASR worker ran out of memory' : 'ASR worker died');
    });
  }

  /** The last model load's time, once a worker has loaded. */
  get modelLoadMs(): number | undefined {
    return this.loadMs;
  }

  /** A worker has the model loaded: what /readyz calls `model`. */
  get ready(): boolean {
    return this.loadMs !== undefined && this.pool.readyWorkers > 0;
  }

  /**
   * Forks the decoder process, then downloads the model when missing and loads it in every worker
   * (with Silero VAD beside it, when on). On failure the fatal line says why (which host, which
   * stage), the stages are closed, and the error is thrown.
   */
  async start(): Promise<void> {
    const { config, log } = this.options;
    try {
      const swept = await sweepStaleScratch(os.tmpdir(), [DOWNLOAD_FILE_PREFIX, PCM_FILE_PREFIX], scratchLifetimeMs(config.maxAudioSeconds));
      if (swept.files > 0) log.warn({ ...swept, dir: os.tmpdir() }, 'removed the scratch files of jobs a killed process left (their jobs run again)');
      // Forked first, while this process is small (see decoder-process.ts).
      await this.decoder.start();
      const fetched = await ensureModel({
        modelId: config.modelId,
        modelsDir: config.modelsDir,
        hubUrl: config.modelHubUrl,
        dtype: MODEL_DTYPE,
        onFile: (file, bytes, ms) => log.info({ file, mb: +(bytes / 2 ** 20).toFixed(1), ms: Math.round(ms) }, 'model file downloaded'),
      });
      log.info({ model: config.modelId, downloaded: fetched }, fetched.length ? 'model downloaded' : 'model present: starting offline');
      await this.pool.start();
    } catch (error) {
      const where = error instanceof ModelDownloadError ? { host: error.host, stage: error.stage } : {};
      log.fatal({ ...where, model: config.modelId }, (error as Error).message);
      await this.close();
      throw error;
    }
  }

  /** When no worker can load the model any more: the fatal line, then `stop` (the process exits for a clean restart). */
  onUnavailable(stop: () => void, context: () => Record<string, unknown> = () => ({})): void {
    this.pool.on('unavailable', ({ failuresInARow, lastError }) => {
      this.options.metrics.asrUnavailable.inc();
      this.options.log.fatal(
        { failuresInARow, lastError, ...context() },
        'no ASR worker can load the model: exiting so the supervisor restarts a clean process (queued jobs stay queued)',
      );
      stop();
    });
  }

  transcriber(download: (fileId: string, jobId: number, maxBytes: number) => Promise<string>): LocalTranscriber {
    const { config, metrics } = this.options;
    return new LocalTranscriber({
      download,
      pool: this.pool,
      speech: this.speech,
      metrics,
      decoder: this.decoder,
      modelId: config.modelId,
      maxAudioSeconds: config.maxAudioSeconds,
      maxFileMb: config.maxFileMb,
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.close(), this.speech?.close(), this.decoder.close()]);
  }
}
