// Runs worker.ts from TypeScript source (tests, npm run transcribe/bench): Node 20 does not hand
// the parent's tsx loader to worker threads, so the worker registers it itself. Production runs
// the compiled worker.js and never loads this file.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
