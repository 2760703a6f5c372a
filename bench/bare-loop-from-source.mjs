// Runs bare-loop.ts from TypeScript source on a worker thread (as src/asr/worker-from-source.mjs
// does for the ASR worker): Node 20 does not hand the parent's tsx loader to worker threads.
import { register } from 'tsx/esm/api';

register();
await import('./bare-loop.ts');
