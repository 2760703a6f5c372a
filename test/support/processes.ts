// What is running on this machine, read from /proc: lets tests check that nothing they started outlived them.
import { readdirSync, readFileSync } from 'node:fs';

/** Pids of processes whose command line mentions `needle`. */
export function processesMentioning(needle: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Alive, not a zombie waiting for whoever inherited it to reap it. */
export function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
