// Global setup (vitest.config.ts): every test file, and every bot, decoder and worker process the
// tests start, writes its temporary files under one folder of this run, removed when the run ends.
// Tests make folders of their own in os.tmpdir() and many never remove them (a synthetic base
// model is 240 MB); a killed run leaves one folder instead of hundreds.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export default function runTemporaryFolder(): () => void {
  const before = process.env.TMPDIR;
  const folder = mkdtempSync(path.join(os.tmpdir(), 'voicebot-test-run-'));
  // As /tmp is: the entrypoint's test runs the bot as uid 1000 on folders made in here.
  chmodSync(folder, 0o1777);
  process.env.TMPDIR = folder;
  return () => {
    rmSync(folder, { recursive: true, force: true });
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
  };
}
