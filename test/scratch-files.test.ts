// A job's scratch files left by a killed process: removed at startup once no job can be using them.
import { mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchLifetimeMs, staleScratch, sweepStaleScratch } from '../src/jobs/scratch-files.js';

const HOUR = 3_600_000;
const prefixes = ['voicebot-job-', 'voicebot-pcm-'];

describe('scratch files', () => {
  it('outlive no job: a download, a decode and two transcription attempts of the longest note', () => {
    // 600 s: 10 min + (20 s + 150 s) + 2 × (60 s + 2400 s).
    expect(scratchLifetimeMs(600)).toBe(600_000 + 170_000 + 2 * 2_460_000);
    expect(scratchLifetimeMs(3600)).toBeGreaterThan(scratchLifetimeMs(600));
  });

  it('are stale when named as scratch and older than that; other files never are', () => {
    const now = 100 * HOUR;
    const files = [
      { name: 'voicebot-pcm-a.s16', modifiedMs: now - 3 * HOUR, bytes: 1 },
      { name: 'voicebot-job-7-b', modifiedMs: now - 3 * HOUR, bytes: 1 },
      { name: 'voicebot-pcm-fresh.s16', modifiedMs: now - 1 * HOUR, bytes: 1 },
      { name: 'someone-elses-file', modifiedMs: 0, bytes: 1 },
    ];
    expect(staleScratch(files, prefixes, now, 2 * HOUR).map((f) => f.name)).toEqual(['voicebot-pcm-a.s16', 'voicebot-job-7-b']);
  });

  it('are swept from the directory at startup, leaving what a running job may still use', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'voicebot-scratch-'));
    const old = (Date.now() - 5 * HOUR) / 1000;
    for (const [name, bytes, aged] of [['voicebot-pcm-old.s16', 2 ** 20, true], ['voicebot-job-3-old', 1000, true], ['voicebot-pcm-new.s16', 10, false], ['other.txt', 10, true]] as const) {
      writeFileSync(path.join(dir, name), Buffer.alloc(bytes));
      if (aged) utimesSync(path.join(dir, name), old, old);
    }
    expect(await sweepStaleScratch(dir, prefixes, HOUR)).toEqual({ files: 2, mb: 1 });
    expect(readdirSync(dir).sort()).toEqual(['other.txt', 'voicebot-pcm-new.s16']);
    await expect(sweepStaleScratch(path.join(dir, 'gone'), prefixes, HOUR)).rejects.toThrow(/temporary directory .*gone cannot be read.*TMPDIR/);
  });
});
