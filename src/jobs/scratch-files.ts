// A job's scratch files: the voice note downloaded from Telegram and the PCM that ffmpeg decoded it
// to, in the temporary directory while the job runs. The job removes them when it ends; a process
// killed mid-job cannot, and its job starts again from the download after the restart, so what it
// left is garbage. A crash loop with a 10-minute note in flight would leave 19 MB of PCM a restart:
// at startup, the files older than any job can keep them are removed.
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { decodeDeadlineMs } from '../audio/decode-deadline.js';
import { transcribeDeadlineMs } from '../asr/transcribe-deadline.js';

/** The download's own timeout and getFile's retries, with room. */
const DOWNLOAD_MS = 10 * 60_000;

/** The longest a job can keep a scratch file: its download, its decode, and two attempts at transcribing it. */
export function scratchLifetimeMs(maxAudioSeconds: number): number {
  return DOWNLOAD_MS + decodeDeadlineMs(maxAudioSeconds) + 2 * transcribeDeadlineMs(maxAudioSeconds);
}

export interface ScratchFile {
  name: string;
  modifiedMs: number;
  bytes: number;
}

/** Pure: the files named as a job's scratch files that no running job can still be using. */
export function staleScratch(files: readonly ScratchFile[], prefixes: readonly string[], nowMs: number, lifetimeMs: number): ScratchFile[] {
  return files.filter((f) => prefixes.some((p) => f.name.startsWith(p)) && nowMs - f.modifiedMs > lifetimeMs);
}

/** Removes the stale scratch files in `dir`; what it removed, for the startup log. */
export async function sweepStaleScratch(dir: string, prefixes: readonly string[], lifetimeMs: number): Promise<{ files: number; mb: number }> {
  const listed = await readdir(dir).catch((error: Error) => {
    throw new Error(`the temporary directory ${dir} cannot be read (${error.message}): set TMPDIR to a writable directory with room for the notes being transcribed`);
  });
  const names = listed.filter((name) => prefixes.some((p) => name.startsWith(p)));
  const found: ScratchFile[] = [];
  for (const name of names) {
    // Another process may remove its own file meanwhile: one gone is not an error.
    const info = await stat(path.join(dir, name)).catch(() => undefined);
    if (info?.isFile()) found.push({ name, modifiedMs: info.mtimeMs, bytes: info.size });
  }
  const stale = staleScratch(found, prefixes, Date.now(), lifetimeMs);
  await Promise.all(stale.map((f) => rm(path.join(dir, f.name), { force: true })));
  return { files: stale.length, mb: +(stale.reduce((sum, f) => sum + f.bytes, 0) / 2 ** 20).toFixed(1) };
}
