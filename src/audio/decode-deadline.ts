// Pure: how long ffmpeg may take for audio of a given length before it counts as stuck.

/**
 * ffmpeg decodes Opus hundreds of times faster than real time; even a loaded 1-vCPU VPS stays far
 * below a quarter of the audio's length. The fixed part covers process start and a slow disk.
 */
export function decodeDeadlineMs(audioSeconds: number): number {
  return 20_000 + 250 * audioSeconds;
}
