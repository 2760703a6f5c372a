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
  cacheHits: number;
  rtf: { model: string; mediaKind: string; rtf: Percentiles }[];
  topUsers: { userId: number; audioMinutes: number }[];
  errors: { code: string; n: number }[];
  workerExits: number;
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

  period(windowMs: number, now = Date.now()): PeriodStats {
    const since = Number.isFinite(windowMs) ? now - windowMs : 0;
    // All time: no condition at all; a range that matches every row is slower than a scan.
    const inPeriod = Number.isFinite(windowMs) ? gte(jobs.createdAt, since) : undefined;

    const byStatus: Record<string, number> = {};
    for (const row of this.db.select({ status: jobs.status, n: count() }).from(jobs).where(inPeriod).groupBy(jobs.status).all()) {
      byStatus[row.status] = row.n;
    }
    const totals = this.db
      .select({ audio: sum(jobs.audioSeconds), cached: sql<number>`SUM(${jobs.fromCache})` })
      .from(jobs)
      .where(inPeriod)
      .get();

    const groups = new Map<string, number[]>();
    for (const row of this.db.select({ model: jobs.model, kind: jobs.mediaKind, rtf: jobs.rtf }).from(jobs).where(and(inPeriod, isNotNull(jobs.rtf))).all()) {
      const key = `${row.model}\u0000${row.kind}`;
      let list = groups.get(key);
      if (!list) groups.set(key, (list = []));
      list.push(row.rtf!);
    }
    const rtf = [...groups].map(([key, values]) => {
      const [model, mediaKind] = key.split('\u0000') as [string, string];
      return { model, mediaKind, rtf: percentiles(values) };
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

    const workerExits =
      this.db.select({ n: count() }).from(lifecycleEvents).where(and(eq(lifecycleEvents.kind, 'worker_exit'), gte(lifecycleEvents.at, since))).get()?.n ?? 0;

    return {
      since,
      byStatus,
      audioMinutes: Number(totals?.audio ?? 0) / 60,
      cacheHits: Number(totals?.cached ?? 0),
      rtf,
      topUsers,
      errors,
      workerExits,
    };
  }
}
