// Keeps the database from growing without limit: old transcripts first, then old job rows.
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.js';
import type { JobStore } from './job-store.js';

const DAY_MS = 86_400_000;
/** Long polling redelivers only recent updates; a week of update ids is plenty to deduplicate. */
const SEEN_UPDATES_DAYS = 7;
const PRUNE_EVERY_MS = 3_600_000;

export interface RetentionOptions {
  store: JobStore;
  transcriptRetentionDays: number;
  jobRetentionDays: number;
  metrics: Metrics;
  log: Logger;
}

export class Retention {
  private timer?: NodeJS.Timeout;

  constructor(private readonly options: RetentionOptions) {}

  /** Prunes now, then every hour. */
  start(): void {
    this.prune();
    this.timer = setInterval(() => this.prune(), PRUNE_EVERY_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  prune(now = Date.now()): { transcripts: number; jobs: number } {
    const { store, transcriptRetentionDays, jobRetentionDays, metrics, log } = this.options;
    store.pruneSeenUpdates(now - SEEN_UPDATES_DAYS * DAY_MS);
    const pruned = store.pruneFinished(now - transcriptRetentionDays * DAY_MS, now - jobRetentionDays * DAY_MS);
    metrics.retentionPruned.inc({ what: 'transcript' }, pruned.transcripts);
    metrics.retentionPruned.inc({ what: 'job' }, pruned.jobs);
    if (pruned.transcripts || pruned.jobs) log.info({ ...pruned, transcriptRetentionDays, jobRetentionDays }, 'old transcripts and jobs pruned');
    return pruned;
  }
}
