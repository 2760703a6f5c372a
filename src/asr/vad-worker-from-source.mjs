// Runs vad-worker.ts from TypeScript source (tests, benchmarks), like worker-from-source.mjs does
// for the ASR worker: Node 20 does not hand the parent's tsx loader to worker threads.
import { register } from 'tsx/esm/api';

register();
await import('./vad-worker.ts');
