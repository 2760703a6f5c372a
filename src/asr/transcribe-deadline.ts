// Pure: how long a worker may take for audio of a given length before it counts as stuck.

/**
 * The slowest measured configuration (medium on 1 vCPU) runs at RTF ~3; four times the audio plus a
 * minute (a short note still encodes a full 30-s window) leaves room for a loaded machine.
 */
export function transcribeDeadlineMs(audioSeconds: number): number {
  return 60_000 + 4_000 * audioSeconds;
}
