// npm run transcribe: the bot's decode and pool on local files, without Telegram.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { speechOgg } from './support/audio.js';
import { cachedModelsRoot, REPO, TEST_MODEL_ID } from './support/test-model.js';

describe('npm run transcribe', () => {
  it('prints text, audio seconds and RTF per file, and names a file it cannot read', async () => {
    const good = path.join(os.tmpdir(), `voicebot-cli-${process.pid}.ogg`);
    const bad = path.join(os.tmpdir(), `voicebot-cli-${process.pid}.txt`);
    writeFileSync(good, speechOgg('Transcribe me from the command line.', 4));
    writeFileSync(bad, 'not audio');
    const run = promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/transcribe.ts'), good, bad], {
      cwd: REPO,
      env: { ...process.env, MODELS_DIR: await cachedModelsRoot(), WHISPER_MODEL: TEST_MODEL_ID, ASR_WORKERS: '1', ASR_THREADS: '1', ASR_TEMPERATURE_FALLBACK: 'false' },
    });
    const error = (await run.catch((e: unknown) => e)) as { code: number; stdout: string; stderr: string };
    expect(error.code).toBe(1);
    expect(error.stdout).toMatch(new RegExp(`== ${good}: 4\\.\\d\\d s audio, language \\w+, RTF \\d+\\.\\d{3}\\n\\S`));
    expect(error.stderr).toContain(`== ${bad}: `);
  });
});
