// What /stats reports from SQLite: index-backed queries over the jobs table for one period.
import { and, count, desc, eq, gte, isNotNull, sql, sum } from 'drizzle-orm';
import type { Db } from '../storage/database.js';
import { jobs, lifecycleEvents } from '../storage/schema.js';

export interface Percentiles {
  p50: number;
  p95: number;
  n: number;
}

export interface PeriodStats {
  since: number;
  byStatus: Record<string, number>;
  audioMinutes: number;
  /** Speech the VAD found in that audio (jobs run with VAD=off count in neither). */
  speechMinutes: number;
  /** Audio minutes of the jobs whose speech was measured: what speechMinutes is a share of. */
  measuredAudioMinutes: number;
  cacheHits: number;
  rtf: { model: string; mediaKind: string; rtf: Percentiles }[];
  topUsers: { userId: number; audioMinutes: number }[];
  errors: { code: string; n: number }[];
  workerExits: number;
  /** The named transcription workers (ROLE=bot: those connected now): jobs they made, and their RTF p50. */
  byWorker: { worker: string; n: number; rtfP50: number | null }[];
}

/** Parses `24h`, `7d`, `30m`, `all` into a window length in ms (Infinity for all). */
export function parsePeriod(text: string): number | undefined {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === 'all') return Infinity;
  const match = /^(\d{1,4})\s*([mhdw])$/.exec(trimmed);
  if (!match) return undefined;
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[match[2] as 'm' | 'h' | 'd' | 'w'];
  return Number(match[1]) * unit;
}

export function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { p50: 0, p95: 0, n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
  return { p50: at(0.5), p95: at(0.95), n: sorted.length };
}

export class JobStats {
  constructor(private readonly db: Db) {}

  period(windowMs: number, now = Date.now(), workers: readonly string[] = []): PeriodStats {
    const since = Number.isFinite(windowMs) ? now - windowMs : 0;
    // All time: no condition at all; a range that matches every row is slower than a scan.
    const inPeriod = Number.isFinite(windowMs) ? gte(jobs.createdAt, since) : undefined;

    const byStatus: Record<string, number> = {};
    for (const row of this.db.select({ status: jobs.status, n: count() }).from(jobs).where(inPeriod).groupBy(jobs.status).all()) {
      byStatus[row.status] = row.n;
    }
    const totals = this.db
      .select({
        audio: sum(jobs.audioSeconds),
        speech: sum(jobs.speechSeconds),
        measuredAudio: sql<number | null>`SUM(CASE WHEN ${jobs.speechSeconds} IS NOT NULL THEN ${jobs.audioSeconds} END)`,
        cached: sql<number>`SUM(${jobs.fromCache})`,
      })
      .from(jobs)
      .where(inPeriod)
      .get();

    // Nearest-rank percentiles: per model and media kind, the k-th RTF is an OFFSET into the
    // covering index on (model, media_kind, rtf, created_at), so no row list leaves SQLite.
    const measured = and(isNotNull(jobs.rtf), inPeriod);
    const rtf = this.db
      .select({ model: jobs.model, mediaKind: jobs.mediaKind, n: count() })
      .from(jobs)
      .where(measured)
      .groupBy(jobs.model, jobs.mediaKind)
      .all()
      .map(({ model, mediaKind, n }) => {
        const rank = (q: number) =>
          this.db
            .select({ rtf: jobs.rtf })
            .from(jobs)
            .where(and(eq(jobs.model, model!), eq(jobs.mediaKind, mediaKind), measured))
            .orderBy(jobs.rtf)
            .limit(1)
            .offset(Math.max(0, Math.ceil(q * n) - 1))
            .get()?.rtf ?? 0;
        return { model: model ?? 'unknown', mediaKind, rtf: { p50: rank(0.5), p95: rank(0.95), n } };
      });

    const audioSum = sql<number>`SUM(${jobs.audioSeconds})`;
    const topUsers = this.db
      .select({ userId: jobs.userId, audio: audioSum })
      .from(jobs)
      .where(and(inPeriod, eq(jobs.fromCache, false)))
      .groupBy(jobs.userId)
      .orderBy(desc(audioSum))
      .limit(5)
      .all()
      .map((r) => ({ userId: r.userId, audioMinutes: (r.audio ?? 0) / 60 }));

    const errors = this.db
      .select({ code: jobs.errorCode, n: count() })
      .from(jobs)
      .where(and(inPeriod, eq(jobs.status, 'failed')))
      .groupBy(jobs.errorCode)
      .orderBy(desc(count()))
      .all()
      .map((r) => ({ code: r.code ?? 'unknown', n: r.n }));

    // Each worker's median is an OFFSET into the (worker, rtf, created_at) index, like the RTFs above.
    const byWorker = workers.map((worker) => {
      const mine = and(eq(jobs.worker, worker), inPeriod);
      const n = this.db.select({ n: count() }).from(jobs).where(mine).get()?.n ?? 0;
      const timed = this.db.select({ n: count() }).from(jobs).where(and(mine, isNotNull(jobs.rtf))).get()?.n ?? 0;
      const rtfP50 =
        timed === 0
          ? null
          : (this.db
              .select({ rtf: jobs.rtf })
              .from(jobs)
              .where(and(mine, isNotNull(jobs.rtf)))
              .orderBy(jobs.rtf)
              .limit(1)
              .offset(Math.max(0, Math.ceil(0.5 * timed) - 1))
              .get()?.rtf ?? null);
      return { worker, n, rtfP50 };
    });

    const workerExits =
      this.db.select({ n: count() }).from(lifecycleEvents).where(and(eq(lifecycleEvents.kind, 'worker_exit'), gte(lifecycleEvents.at, since))).get()?.n ?? 0;

    return {
      since,
      byStatus,
      audioMinutes: Number(totals?.audio ?? 0) / 60,
      speechMinutes: Number(totals?.speech ?? 0) / 60,
      measuredAudioMinutes: Number(totals?.measuredAudio ?? 0) / 60,
      cacheHits: Number(totals?.cached ?? 0),
      rtf,
      topUsers,
      errors,
      workerExits,
      byWorker,
    };
  }
}
