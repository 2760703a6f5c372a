// Runs beside every test file (vitest.config.ts, setupFiles).
import { afterAll } from 'vitest';
import { removeTestNotes } from './pcm.js';

afterAll(removeTestNotes);
