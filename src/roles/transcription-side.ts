// What the bot's wiring needs of whoever transcribes: this process (ROLE=all) or the queue (ROLE=bot).
import type { TranscriptionFigures } from '../bot/stats-command.js';
import type { Readiness } from '../http/server.js';
import type { Transcriber } from '../jobs/transcriber.js';

export interface TranscriptionSide {
  transcriber: Transcriber;
  /** Jobs the dispatcher runs at once. */
  concurrency: number;
  /** Jobs may be claimed now (a worker loaded; or Redis reachable with a worker connected). */
  ready(): boolean;
  /** Another job may start while others run (this machine's memory when it transcribes itself). */
  memoryAllowsMore(): boolean;
  /** Whether the bot's death is never the note's doing: jobs it left behind get their attempt back. */
  resumeGivesBackAttempts: boolean;
  /** The side's checks for /readyz. */
  readiness: Readiness;
  /** For /stats. */
  figures(): TranscriptionFigures;
  /** Starts it (model loaded; or Redis reached, or being retried). Throws, having logged why, when it cannot start. */
  start(): Promise<void>;
  /** `listener` runs whenever jobs may have become claimable. */
  onReady(listener: () => void): void;
  /** `stop` runs when transcription can no longer work at all, after the fatal line is logged. */
  onFatal(stop: (reason: string) => void): void;
  close(): Promise<void>;
}
