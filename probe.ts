import { WhisperRunner } from './src/asr/whisper-runner.ts';
const mb = () => Math.round(process.memoryUsage.rss() / 2 ** 20);
const [model, arena, prepack] = process.argv.slice(2);
console.log('start', mb());
await import('@huggingface/transformers');
console.log('import transformers', mb());
const r = await WhisperRunner.load({ workerId: 1, modelId: `voicebot-synthetic/whisper-${model}`, modelsDir: '.cache/bench-models', dtype: 'q8', threads: 2, cpuArena: arena === '1' });
console.log('loaded', mb(), JSON.stringify(process.memoryUsage()));
const audio = Float32Array.from({ length: 9 * 16000 }, (_, i) => 0.3 * Math.sin(i / 9));
for (let i = 0; i < 3; i++) { await r.transcribe(audio, { language: null, task: 'transcribe', timestamps: false, fixedTokensPerSecond: 3 }, () => {}); console.log('note', i, mb()); }
console.log('peak', Math.round(process.resourceUsage().maxRSS / 1024));
