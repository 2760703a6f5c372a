// Pure: real-time factors, as the README defines them.

/** Inference time ÷ audio time: what the model and the CPU cost. Below 1 is faster than real time. */
export function inferenceRtf(inferenceMs: number, audioSeconds: number): number {
  return audioSeconds > 0 ? inferenceMs / (audioSeconds * 1000) : 0;
}

/** Everything the user waited for (queue, download, decode, VAD, inference) ÷ audio time. */
export function totalRtf(
  parts: { queueWaitMs: number; downloadMs: number; decodeMs: number; vadMs?: number; inferenceMs: number },
  audioSeconds: number,
): number {
  return inferenceRtf(parts.queueWaitMs + parts.downloadMs + parts.decodeMs + (parts.vadMs ?? 0) + parts.inferenceMs, audioSeconds);
}
