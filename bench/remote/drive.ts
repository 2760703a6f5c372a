// Notes through a transcriber, as the bot's dispatcher sends them: after a warm-up (every ASR
// worker's first run allocates what later runs reuse), a burst of notes at once with a bound on how
// many run (throughput), then notes one at a time on an idle transcriber (latency).
import pino from 'pino';
import type { Transcriber, TranscriptionMeasures, TranscriptionRequest } from '../../src/jobs/transcriber.js';

export interface NoteTiming {
  audioSeconds: number;
  /** Submitted to the transcriber → its result. */
  totalMs: number;
  /** Through the queue: handed over → a worker started it (BullMQ's own wait). */
  queuedMs: number | null;
  inferenceMs: number;
}

export interface DriveResult {
  /** Seconds of audio transcribed per second of wall time, over the burst. */
  audioSecondsPerSecond: number;
  burstWallMs: number;
  burst: NoteTiming[];
  sequential: NoteTiming[];
}

export interface DrivePlan {
  /** One request per note of the burst (cycled for the sequential notes). */
  requests: TranscriptionRequest[];
  /** Notes running at once during the burst. */
  concurrency: number;
  /** Notes sent one at a time after the burst. */
  sequential: number;
  /** Notes sent at once before anything is measured: one for each ASR worker. */
  warmup: number;
}

const silent = pino({ level: 'silent' });

async function one(transcriber: Transcriber, request: TranscriptionRequest): Promise<NoteTiming> {
  const measured: TranscriptionMeasures = {};
  const started = performance.now();
  const transcription = await transcriber.transcribe(request, { log: silent, started: () => Promise.resolve(), progress: () => undefined, measured, stopping: new AbortController().signal });
  const totalMs = performance.now() - started;
  // As the bot does once the transcript is stored: the queue forgets the job.
  await transcription.stored?.();
  return { audioSeconds: measured.audioSeconds ?? 0, totalMs, queuedMs: measured.queueWaitMs ?? null, inferenceMs: measured.inferenceMs ?? 0 };
}

/** The plan's notes again, under ids of their own (a queued job's id must not be reused). */
function again(plan: DrivePlan, count: number, idFrom: number): TranscriptionRequest[] {
  return Array.from({ length: count }, (_, i) => {
    const request = plan.requests[i % plan.requests.length]!;
    return { ...request, jobId: idFrom + i };
  });
}

export async function drive(transcriber: Transcriber, plan: DrivePlan): Promise<DriveResult> {
  await Promise.all(again(plan, plan.warmup, 2_000_000).map((request) => one(transcriber, request)));
  const pending = [...plan.requests];
  const burst: NoteTiming[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: plan.concurrency }, async () => {
      for (let next = pending.shift(); next; next = pending.shift()) burst.push(await one(transcriber, next));
    }),
  );
  const burstWallMs = performance.now() - started;
  const sequential: NoteTiming[] = [];
  for (const request of again(plan, plan.sequential, 1_000_000)) sequential.push(await one(transcriber, request));
  const audio = burst.reduce((sum, n) => sum + n.audioSeconds, 0);
  return { audioSecondsPerSecond: audio / (burstWallMs / 1000), burstWallMs, burst, sequential };
}
