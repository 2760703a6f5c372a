// Prometheus metrics: one registry per process, named voicebot_*.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkerExitReason } from '../asr/pool.js';
import { availableMemoryMb, memoryLimitBytes, processSwapBytes } from '../machine.js';

/**
 * Every reason a worker can exit, so that each restart series exists at 0 from the start: alert
 * rules and dashboard panels then see the first restart as an increase, not as a new series.
 */
const WORKER_EXIT_REASONS: Record<WorkerExitReason, true> = { out_of_memory: true, crashed: true, recycled: true, load_failed: true, timed_out: true };

export class Metrics {
  readonly registry = new Registry();

  readonly rtf = new Histogram({
    name: 'voicebot_rtf',
    help: 'Real-time factor of inference (inference time / audio time), per job',
    labelNames: ['model', 'media_kind'] as const,
    buckets: [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5],
    registers: [this.registry],
  });
  readonly inferenceSeconds = new Histogram({
    name: 'voicebot_inference_seconds',
    help: 'Time spent in Whisper per job',
    labelNames: ['model'] as const,
    buckets: [0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120],
    registers: [this.registry],
  });
  readonly decodeSeconds = new Histogram({
    name: 'voicebot_decode_seconds',
    help: 'Time spent decoding audio with ffmpeg per job',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  readonly audioSeconds = new Counter({ name: 'voicebot_audio_seconds_total', help: 'Audio transcribed', registers: [this.registry] });
  readonly jobs = new Counter({
    name: 'voicebot_jobs_total',
    help: 'Jobs finished, by status and error code',
    labelNames: ['status', 'code'] as const,
    registers: [this.registry],
  });
  readonly refusals = new Counter({
    name: 'voicebot_refusals_total',
    help: 'Voice notes refused at admission, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly queueWaitSeconds = new Histogram({
    name: 'voicebot_queue_wait_seconds',
    help: 'Time a job waited in the queue before its work started',
    buckets: [0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  readonly jobsQueued = new Counter({ name: 'voicebot_jobs_queued_total', help: 'Voice notes accepted into the queue', registers: [this.registry] });
  readonly queueDepth = new Gauge({ name: 'voicebot_queue_depth', help: 'Jobs queued or processing', registers: [this.registry] });
  readonly workerRestarts = new Counter({
    name: 'voicebot_worker_restarts_total',
    help: 'ASR workers that exited and were replaced, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly workerHeapBytes = new Gauge({
    name: 'voicebot_worker_heap_bytes',
    help: 'V8 heap used by each ASR worker after its last job (native onnxruntime memory shows in process RSS)',
    labelNames: ['worker'] as const,
    registers: [this.registry],
  });
  readonly jobPeakRssBytes = new Gauge({
    name: 'voicebot_job_peak_rss_bytes',
    help: 'Peak process RSS during the last job',
    registers: [this.registry],
  });
  readonly modelLoadSeconds = new Gauge({
    name: 'voicebot_model_load_seconds',
    help: 'Time the last ASR worker took to load the model',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'voicebot_errors_total',
    help: 'Errors logged, by where they happened',
    labelNames: ['where'] as const,
    registers: [this.registry],
  });
  readonly telegramConnectFailures = new Counter({
    name: 'voicebot_telegram_connect_failures_total',
    help: 'Failed attempts to reach the Bot API at startup, by kind (dns, refused, reset, timeout, tls, http, network)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly deliveryRetries = new Counter({
    name: 'voicebot_delivery_retries_total',
    help: 'Transcript deliveries to Telegram tried again after a failure (the transcript is kept; Whisper does not run again)',
    registers: [this.registry],
  });
  readonly deadlinesExceeded = new Counter({
    name: 'voicebot_deadlines_exceeded_total',
    help: 'ffmpeg runs (decode) and worker tasks (transcribe) stopped for passing the deadline their audio length allows',
    labelNames: ['stage'] as const,
    registers: [this.registry],
  });
  readonly asrUnavailable = new Counter({
    name: 'voicebot_asr_unavailable_total',
    help: 'Times no ASR worker could load after repeated tries (the bot then exits for a clean restart)',
    registers: [this.registry],
  });
  readonly retentionPruned = new Counter({
    name: 'voicebot_retention_pruned_total',
    help: 'Transcripts cleared and job rows deleted by the retention settings',
    labelNames: ['what'] as const,
    registers: [this.registry],
  });
  readonly cacheHits = new Counter({ name: 'voicebot_cache_hits_total', help: 'Voice notes answered from a stored transcript', registers: [this.registry] });
  readonly ready = new Gauge({
    name: 'voicebot_ready',
    help: 'The checks behind /readyz, updated on every scrape: 1 passing, 0 failing',
    labelNames: ['check'] as const,
    registers: [this.registry],
  });
  readonly telegramReachable = new Gauge({ name: 'voicebot_telegram_reachable', help: 'Whether the last Bot API call got an answer (1) or failed on the network or a server error (0)', registers: [this.registry] });
  readonly previousRunUnclean = new Gauge({ name: 'voicebot_previous_run_unclean', help: 'This process started after a run that ended without a clean stop (OOM kill, SIGKILL, power loss)', registers: [this.registry] });
  readonly rtfBudget = new Gauge({
    name: 'voicebot_rtf_budget',
    help: 'RTF p95 above which the model is too slow for this machine (RTF_BUDGET), for the running model',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly queueReachable = new Gauge({
    name: 'voicebot_queue_reachable',
    help: "ROLE=bot and ROLE=worker: the queue's Redis is connected and set up (1) or not (0)",
    registers: [this.registry],
  });
  readonly queueWorkers = new Gauge({
    name: 'voicebot_queue_workers',
    help: 'ROLE=bot: transcription workers connected to the queue',
    registers: [this.registry],
  });
  readonly queueJobs = new Counter({
    name: 'voicebot_queue_jobs_total',
    help: 'ROLE=worker: queued jobs this worker ended, by outcome (completed, failed, handed_back at shutdown)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly queuePaused = new Gauge({
    name: 'voicebot_queue_paused',
    help: 'ROLE=worker: 1 while this worker takes no new jobs because its memory is low',
    registers: [this.registry],
  });
  readonly memoryLimitBytes = this.sampledGauge('voicebot_memory_limit_bytes', "Memory the process may use: the container's cgroup limit, else the host's RAM", memoryLimitBytes);
  readonly memoryAvailableBytes = this.sampledGauge(
    'voicebot_memory_available_bytes',
    "Memory still available: the container's headroom, else the host's MemAvailable (what admission checks)",
    () => availableMemoryMb() * 2 ** 20,
  );
  readonly swapBytes = this.sampledGauge('voicebot_process_swap_bytes', "The process's pages in swap (VmSwap), worker threads included", processSwapBytes);

  constructor() {
    // Default metrics include process memory, event-loop lag and GC.
    collectDefaultMetrics({ register: this.registry, prefix: 'voicebot_' });
    this.previousRunUnclean.set(0);
    for (const reason of Object.keys(WORKER_EXIT_REASONS)) this.workerRestarts.inc({ reason }, 0);
  }

  /** A machine fact read at each scrape, so it is never older than the scrape. */
  private sampledGauge(name: string, help: string, read: () => number): Gauge {
    return new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }
}
