// Pure policy: which Whisper model and pool shape fit a machine's memory and CPUs.
import { BOT_BASELINE_MB, MODEL_CATALOG, type ModelSpec } from './catalog.js';

export interface MachineFacts {
  vcpus: number;
  /** The memory this process may use: the container's limit when there is one, else the host's RAM. */
  memoryMb: number;
}

/** Memory kept free for the page cache and bursts, so the model never pushes the bot into swap. */
export const MEMORY_HEADROOM = 0.15;

export interface ModelChoice {
  model: ModelSpec;
  reason: string;
}

export function budgetMb(memoryMb: number): number {
  return Math.floor(memoryMb * (1 - MEMORY_HEADROOM));
}

export function requiredMb(model: ModelSpec, workers: number): number {
  return BOT_BASELINE_MB + workers * model.workerPeakMb;
}

/** The largest catalogued model whose workers fit the memory budget; tiny when nothing fits. */
export function chooseModel(machine: MachineFacts, workers: number): ModelChoice {
  const budget = budgetMb(machine.memoryMb);
  const fitting = MODEL_CATALOG.filter((m) => requiredMb(m, workers) <= budget);
  const model = fitting.at(-1);
  if (!model) {
    const smallest = MODEL_CATALOG[0]!;
    return {
      model: smallest,
      reason:
        `no model fits ${budget} MB (${machine.memoryMb} MB less ${MEMORY_HEADROOM * 100}% headroom) with ${workers} worker(s); ` +
        `using ${smallest.name}, which needs ~${requiredMb(smallest, workers)} MB: expect swapping`,
    };
  }
  const next = MODEL_CATALOG[MODEL_CATALOG.indexOf(model) + 1];
  return {
    model,
    reason:
      `${model.name} needs ~${requiredMb(model, workers)} MB with ${workers} worker(s), within ${budget} MB ` +
      `(${machine.memoryMb} MB less ${MEMORY_HEADROOM * 100}% headroom)` +
      (next ? `; ${next.name} would need ~${requiredMb(next, workers)} MB` : ''),
  };
}

export interface PoolShape {
  workers: number;
  threads: number;
}

/**
 * One worker per two vCPUs keeps latency low for a single voice note (threads speed up the
 * encoder) while a second worker only pays off once there are cores to spare.
 * workers × threads never exceeds the vCPUs.
 */
export function defaultPoolShape(vcpus: number, workers?: number, threads?: number): PoolShape {
  const cpus = Math.max(1, Math.floor(vcpus));
  const w = workers ?? Math.max(1, Math.floor(cpus / 2));
  const t = threads ?? Math.max(1, Math.floor(cpus / w));
  return { workers: w, threads: t };
}
