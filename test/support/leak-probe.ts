// Runs N notes through the real pool in a process of its own and prints its RSS along the way.
// Usage: node --import tsx test/support/leak-probe.ts <modelsDir> <modelId> <notes>
import { AsrPool } from '../../src/asr/pool.js';
import { pcmFile, synthPcm } from './pcm.js';

const [modelsDir, modelId, count] = process.argv.slice(2) as [string, string, string];
const pool = new AsrPool({ size: 1, init: { modelId, modelsDir, dtype: 'q8', threads: 1, cpuArena: false }, maxTasksPerWorker: 0, recycleRssMb: 0 });
await pool.start();
const note = pcmFile(synthPcm(5, (i) => 0.3 * Math.sin(i / 9) * Math.sin(i / 4000)));
const rss: number[] = [];
for (let i = 0; i < Number(count); i++) {
  // Random weights fall back through every temperature: one sample each keeps 200 notes within the test's time.
  await pool.transcribe(note, { language: 'en', task: 'transcribe', timestamps: false, fixedTokensPerSecond: 3, decoding: { bestOf: 1 } });
  rss.push(process.memoryUsage.rss() / 2 ** 20);
}
await pool.close();
process.stdout.write(`RSS ${JSON.stringify(rss)}\n`);
