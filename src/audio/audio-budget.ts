// Pure: the longest audio the memory of this machine can hold while its workers run at their peak.
import { PCM_BYTES_PER_SECOND } from './pcm.js';
/** Below this a cap would refuse ordinary voice notes: better to run close to the limit. */
const FLOOR_SECONDS = 60;

export interface AudioBudgetInput {
  requestedSeconds: number;
  /** Memory the process may use, less the headroom kept free. */
  budgetMb: number;
  /** The bot without workers, plus every worker at its measured peak. */
  committedMb: number;
  /** Jobs that hold decoded audio at once (one per worker). */
  concurrentJobs: number;
}

export interface AudioLimit {
  maxSeconds: number;
  /** Why, for the startup log. */
  reason: string;
}

/**
 * Each running job holds its PCM once (decoded into one buffer, then transferred to its worker);
 * the memory left beside the workers' peaks bounds how long that audio may be.
 */
export function audioLimit(input: AudioBudgetInput): AudioLimit {
  const spareMb = Math.max(0, input.budgetMb - input.committedMb);
  const fits = Math.floor((spareMb * 2 ** 20) / (PCM_BYTES_PER_SECOND * input.concurrentJobs));
  const cap = Math.max(FLOOR_SECONDS, fits);
  const sums = `${spareMb} MB spare beside the workers' peaks (budget ${input.budgetMb} MB, committed ${input.committedMb} MB) holds ${fits} s of 16-kHz PCM per job × ${input.concurrentJobs} job(s) at once`;
  if (input.requestedSeconds <= cap) return { maxSeconds: input.requestedSeconds, reason: `MAX_AUDIO_SECONDS=${input.requestedSeconds} fits: ${sums}` };
  return { maxSeconds: cap, reason: `MAX_AUDIO_SECONDS=${input.requestedSeconds} capped to ${cap} s: ${sums}${fits < FLOOR_SECONDS ? ` (floor ${FLOOR_SECONDS} s: expect swapping on long notes)` : ''}` };
}
