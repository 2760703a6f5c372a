// Pure: how long ffmpeg and a worker may take for audio of a given length before they count as stuck.

/**
 * ffmpeg decodes Opus hundreds of times faster than real time; even a loaded 1-vCPU VPS stays far
 * below a quarter of the audio's length. The fixed part covers process start and a slow disk.
 */
export function decodeDeadlineMs(audioSeconds: number): number {
  return 20_000 + 250 * audioSeconds;
}

/**
 * The slowest measured configuration (medium on 1 vCPU) runs at RTF ~3; four times the audio plus a
 * minute (a short note still encodes a full 30-s window) leaves room for a loaded machine.
 */
export function transcribeDeadlineMs(audioSeconds: number): number {
  return 60_000 + 4_000 * audioSeconds;
}
