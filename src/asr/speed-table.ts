// What each model costs on a CPU, from the benchmark results shipped in bench/results: the RTF of a
// 10-s note (p50, interpolated between the 9-s and 15-s clips) for one worker with N threads, q8,
// full 30-s windows (the default; ASR_WINDOW=fit is faster, so the table never flatters it).
// A test recomputes every row from its file and fails when a results file has no row here.

export interface SpeedSample {
  model: string;
  /** onnxruntime threads of the one worker that transcribed. */
  threads: number;
  rtf10s: number;
  /** The results file and memory profile the figure comes from. */
  source: string;
}

export const SPEED_SAMPLES: readonly SpeedSample[] = [
  { model: 'base', threads: 1, rtf10s: 0.231, source: '1gb-swap-1vcpu-default.json default' },
  { model: 'base', threads: 1, rtf10s: 0.277, source: '1gb-swap-1vcpu.json lean' },
  { model: 'small', threads: 1, rtf10s: 0.689, source: '1gb-swap-1vcpu.json lean' },
  { model: 'base', threads: 2, rtf10s: 0.222, source: '2gb-2vcpu.json lean' },
  { model: 'base', threads: 2, rtf10s: 0.187, source: '2gb-2vcpu.json default' },
  { model: 'small', threads: 2, rtf10s: 0.516, source: '2gb-2vcpu.json lean' },
  { model: 'small', threads: 2, rtf10s: 0.485, source: '2gb-2vcpu.json default' },
  { model: 'base', threads: 2, rtf10s: 0.2, source: 'host-dtypes.json lean' },
  { model: 'base', threads: 2, rtf10s: 0.17, source: 'host-fast.json fast' },
  { model: 'base', threads: 2, rtf10s: 0.203, source: 'host-fast.json default' },
  { model: 'small', threads: 2, rtf10s: 0.524, source: 'host-fast.json fast' },
  { model: 'small', threads: 2, rtf10s: 0.57, source: 'host-fast.json default' },
  { model: 'base', threads: 1, rtf10s: 0.254, source: 'host-lean-base.json lean' },
  { model: 'base', threads: 2, rtf10s: 0.198, source: 'host-lean-base.json lean' },
  { model: 'small', threads: 1, rtf10s: 0.809, source: 'host-lean-small.json lean' },
  { model: 'small', threads: 2, rtf10s: 0.536, source: 'host-lean-small.json lean' },
  { model: 'base', threads: 1, rtf10s: 0.082, source: '1gb-swap-1vcpu-engine.json default' },
  { model: 'small', threads: 1, rtf10s: 0.27, source: '1gb-swap-1vcpu-engine.json default' },
  { model: 'base', threads: 1, rtf10s: 0.081, source: '1gb-swap-1vcpu-image-malloc.json default' },
  { model: 'base', threads: 2, rtf10s: 0.066, source: 'host-2vcpu-mapped.json default' },
  { model: 'small', threads: 2, rtf10s: 0.148, source: 'host-2vcpu-mapped.json default' },
  { model: 'base', threads: 1, rtf10s: 0.08, source: '1gb-swap-1vcpu-mapped.json default' },
  { model: 'small', threads: 1, rtf10s: 0.248, source: '1gb-swap-1vcpu-mapped.json default' },
  { model: 'base', threads: 2, rtf10s: 0.052, source: 'host-2vcpu-lighter-load.json default' },
  { model: 'small', threads: 2, rtf10s: 0.182, source: 'host-2vcpu-lighter-load.json default' },
  { model: 'base', threads: 1, rtf10s: 0.088, source: '1gb-swap-1vcpu-lighter-load.json default' },
  { model: 'small', threads: 1, rtf10s: 0.241, source: '1gb-swap-1vcpu-lighter-load.json default' },
  { model: 'base', threads: 2, rtf10s: 0.051, source: 'host-2vcpu-model-reads.json default' },
  { model: 'small', threads: 2, rtf10s: 0.16, source: 'host-2vcpu-model-reads.json default' },
  { model: 'base', threads: 1, rtf10s: 0.077, source: '1gb-swap-1vcpu-model-reads.json default' },
  { model: 'small', threads: 1, rtf10s: 0.235, source: '1gb-swap-1vcpu-model-reads.json default' },
  { model: 'base', threads: 2, rtf10s: 0.065, source: 'host-2vcpu-cross-apart.json default' },
  { model: 'small', threads: 2, rtf10s: 0.142, source: 'host-2vcpu-cross-apart.json default' },
  { model: 'base', threads: 2, rtf10s: 0.06, source: 'host-2vcpu-rows.json default' },
  { model: 'small', threads: 2, rtf10s: 0.161, source: 'host-2vcpu-rows.json default' },
  { model: 'base', threads: 1, rtf10s: 0.087, source: '1gb-swap-1vcpu-cross-apart.json default' },
  { model: 'small', threads: 1, rtf10s: 0.246, source: '1gb-swap-1vcpu-cross-apart.json default' },
  { model: 'base', threads: 1, rtf10s: 0.078, source: '1gb-swap-1vcpu-rows.json default' },
  { model: 'small', threads: 1, rtf10s: 0.246, source: '1gb-swap-1vcpu-rows.json default' },
  // Measured while the host ran ~1.4x slower than in the runs above (README, Memory: one heap for every thread).
  { model: 'base', threads: 2, rtf10s: 0.09, source: 'host-2vcpu-rows-one-heap.json default' },
  { model: 'small', threads: 2, rtf10s: 0.259, source: 'host-2vcpu-rows-one-heap.json default' },
  { model: 'base', threads: 1, rtf10s: 0.121, source: '1gb-swap-1vcpu-rows-one-heap.json default' },
  { model: 'small', threads: 1, rtf10s: 0.433, source: '1gb-swap-1vcpu-rows-one-heap.json default' },
  { model: 'base', threads: 2, rtf10s: 0.086, source: 'host-2vcpu-one-heap-after-5.json default' },
  { model: 'base', threads: 2, rtf10s: 0.078, source: 'host-2vcpu-one-heap-after-6.json default' },
  // The note read from its PCM file a window at a time (README, Memory); the host still ~1.4x slower.
  { model: 'base', threads: 2, rtf10s: 0.092, source: 'host-2vcpu-rows-pcm-file.json default' },
  { model: 'small', threads: 2, rtf10s: 0.268, source: 'host-2vcpu-rows-pcm-file.json default' },
  { model: 'base', threads: 1, rtf10s: 0.13, source: '1gb-swap-1vcpu-rows-pcm-file.json default' },
  { model: 'small', threads: 1, rtf10s: 0.409, source: '1gb-swap-1vcpu-rows-pcm-file.json default' },
  // The same code again for Choosing a VPS: the 2-vCPU run near the earliest runs' speed, the 1-vCPU
  // tier's while its pinned CPU ran ~2.6x slower than in them (base's encoder 1253 ms a window against 479).
  { model: 'base', threads: 2, rtf10s: 0.077, source: 'host-2vcpu-rows-nov27.json default' },
  { model: 'small', threads: 2, rtf10s: 0.254, source: 'host-2vcpu-rows-nov27.json default' },
  { model: 'base', threads: 1, rtf10s: 0.192, source: '1gb-swap-1vcpu-rows-nov27.json default' },
  { model: 'small', threads: 1, rtf10s: 0.408, source: '1gb-swap-1vcpu-rows-nov27.json default' },
  // The worker without transformers.js (README, Memory), for Choosing a VPS.
  { model: 'base', threads: 2, rtf10s: 0.087, source: 'host-2vcpu-rows-own-loader.json default' },
  { model: 'small', threads: 2, rtf10s: 0.257, source: 'host-2vcpu-rows-own-loader.json default' },
  { model: 'base', threads: 1, rtf10s: 0.175, source: '1gb-swap-1vcpu-rows-own-loader.json default' },
  { model: 'small', threads: 1, rtf10s: 0.44, source: '1gb-swap-1vcpu-rows-own-loader.json default' },
];
