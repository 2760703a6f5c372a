// Prometheus metrics: one registry per process, named voicebot_*.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

  constructor() {
    // Default metrics include process memory, event-loop lag and GC.
    collectDefaultMetrics({ register: this.registry, prefix: 'voicebot_' });
  }
}
