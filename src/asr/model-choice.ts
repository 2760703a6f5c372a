// Pure policy: which Whisper model and pool shape fit a machine's memory and CPUs.
import { BOT_BASELINE_MB, MODEL_CATALOG, type ModelSpec } from './catalog.js';
import type { SpeedSample } from './speed-table.js';

export interface MachineFacts {
  vcpus: number;
  /** The memory this process may use: the container's limit when there is one, else the host's RAM. */
  memoryMb: number;
}

/** Memory kept free for the page cache and bursts, so the model never pushes the bot into swap. */
export const MEMORY_HEADROOM = 0.15;

/** What `npm run bench -- --calibrate` measured on this machine, kept beside the database. */
export interface Calibration {
  createdAt: string;
  cpuModel: string;
  vcpus: number;
  model: string;
  threads: number;
  /** RTF of a 10-s note measured here, and what the speed table expects for the same model and threads. */
  measuredRtf10s: number;
  tableRtf10s: number;
  /** measured ÷ table: every table figure is multiplied by it on this machine. */
  factor: number;
}

export interface SpeedPolicy {
  /** AUTO_MAX_RTF: the slowest expected RTF of a 10-s note that auto accepts. */
  maxRtf: number;
  samples: readonly SpeedSample[];
  calibration?: Calibration;
  /** Why no calibration applies (none measured, unreadable file), said in the reasoning. */
  calibrationNote?: string;
}

export interface ModelChoice {
  model: ModelSpec;
  /** One line: the memory budget, where the speed figures come from, and each model's verdict. */
  reason: string;
}

export function budgetMb(memoryMb: number): number {
  return Math.floor(memoryMb * (1 - MEMORY_HEADROOM));
}

export function requiredMb(model: ModelSpec, workers: number): number {
  return BOT_BASELINE_MB + workers * model.workerPeakMb;
}

/** RTF of a 10-s note from a run's 9-s and 15-s clips (linear between them); undefined without both. */
export function rtfAt10s(clips: readonly { seconds: number; rtf: number }[]): number | undefined {
  const nine = clips.find((c) => c.seconds === 9);
  const fifteen = clips.find((c) => c.seconds === 15);
  if (!nine || !fifteen) return undefined;
  return nine.rtf + ((fifteen.rtf - nine.rtf) * (10 - 9)) / (15 - 9);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface SpeedEstimate {
  rtf: number;
  basis: string;
}

/** The speed table's expected RTF of a 10-s note for one worker with `threads` threads (before calibration). */
export function tableRtf(model: ModelSpec, threads: number, samples: readonly SpeedSample[]): SpeedEstimate | undefined {
  const own = samples.filter((s) => s.model === model.name);
  const at = (t: number) => median(own.filter((s) => s.threads === t).map((s) => s.rtf10s));
  if (own.some((s) => s.threads === threads)) return { rtf: at(threads), basis: 'measured' };
  const fewer = own.filter((s) => s.threads < threads).map((s) => s.threads);
  // More threads than measured: assume no gain, so the estimate never flatters the machine.
  if (fewer.length > 0) return { rtf: at(Math.max(...fewer)), basis: `measured at ${Math.max(...fewer)} thread(s)` };
  if (own.length > 0) {
    const t = Math.min(...own.map((s) => s.threads));
    return { rtf: (at(t) * t) / threads, basis: `measured at ${t} threads, scaled` };
  }
  // Not measured at all: the nearest measured model, scaled by parameter count.
  const nearest = MODEL_CATALOG.filter((m) => m !== model && samples.some((s) => s.model === m.name)).sort(
    (a, b) => Math.abs(Math.log(a.paramsM / model.paramsM)) - Math.abs(Math.log(b.paramsM / model.paramsM)),
  )[0];
  const from = nearest && tableRtf(nearest, threads, samples);
  if (!nearest || !from) return undefined;
  return { rtf: (from.rtf * model.paramsM) / nearest.paramsM, basis: `${nearest.name}'s × parameters` };
}

export interface PoolShape {
  workers: number;
  threads: number;
}

/**
 * The largest catalogued model whose workers fit the memory budget and whose expected RTF for a
 * 10-s note on this pool shape is within the policy's maximum. When no fitting model is fast
 * enough, the fastest that fits; when none fits, tiny (and the reason says to expect swapping).
 */
export function chooseModel(machine: MachineFacts, shape: PoolShape, policy: SpeedPolicy): ModelChoice {
  const budget = budgetMb(machine.memoryMb);
  const calibration = policy.calibration?.vcpus === machine.vcpus ? policy.calibration : undefined;
  const factor = calibration?.factor ?? 1;
  const verdicts = MODEL_CATALOG.map((model) => {
    const memoryMb = requiredMb(model, shape.workers);
    const estimate = tableRtf(model, shape.threads, policy.samples);
    const rtf = estimate && estimate.rtf * factor;
    return { model, memoryMb, estimate, rtf, fits: memoryMb <= budget, fast: rtf !== undefined && rtf <= policy.maxRtf };
  });

  const speedSource = calibration
    ? `bench tables × ${factor.toFixed(2)} from this machine's calibration (${calibration.model} ${calibration.measuredRtf10s.toFixed(2)} vs ${calibration.tableRtf10s.toFixed(2)}, ${calibration.createdAt})`
    : policy.calibration
      ? `bench tables (the calibration was measured on ${policy.calibration.vcpus} vCPU(s), this machine has ${machine.vcpus}: run --calibrate again)`
      : `bench tables${policy.calibrationNote ? ` (${policy.calibrationNote})` : ''}`;
  const summary = verdicts
    .map((v) => {
      const speed = v.rtf === undefined ? 'RTF unknown' : `RTF ${v.rtf.toFixed(2)}${v.estimate!.basis === 'measured' ? '' : ` (${v.estimate!.basis})`}`;
      return `${v.model.name} ${v.memoryMb} MB ${speed} ${!v.fits ? 'too big' : v.fast ? 'ok' : 'too slow'}`;
    })
    .join(', ');
  const limits = `memory budget ${budget} MB (${machine.memoryMb} MB less ${MEMORY_HEADROOM * 100}% headroom), RTF of a 10-s note ≤ ${policy.maxRtf} on ${shape.workers}×${shape.threads} thread(s), speed from ${speedSource}`;

  const chosen = verdicts.filter((v) => v.fits && v.fast).at(-1);
  if (chosen) return { model: chosen.model, reason: `${chosen.model.name}, the largest within ${limits}: ${summary}` };
  const fastestFitting = verdicts.find((v) => v.fits);
  if (fastestFitting) {
    return { model: fastestFitting.model, reason: `${fastestFitting.model.name}: no model is fast enough within ${limits}, so the fastest that fits: ${summary}` };
  }
  const smallest = verdicts[0]!;
  return { model: smallest.model, reason: `${smallest.model.name}: no model fits ${limits}; expect swapping: ${summary}` };
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
