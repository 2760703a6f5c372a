// /stats for admins: SQLite figures for a period plus live gauges. Anyone else gets /help.
import type { Context, MiddlewareFn } from 'grammy';
import { parsePeriod, type JobStats, type PeriodStats } from '../jobs/job-stats.js';
import type { ConnectedWorker } from '../queue/fleet.js';
import { t, uiLanguageOf } from './i18n.js';

/** Who transcribes: this process's worker threads (ROLE=all), or workers through the queue (ROLE=bot). */
export type TranscriptionFigures =
  | { where: 'here'; model: string; modelLoadMs: number | undefined; workers: number; threads: number }
  /** `workers` null: this Redis does not list its clients. */
  | { where: 'queue'; model: string; reachable: boolean; workers: ConnectedWorker[] | null };

/** Figures that exist only in the running process. */
export interface LiveFigures {
  uptimeSeconds: number;
  version: string;
  transcription: TranscriptionFigures;
  queueDepth: number;
  rssMb: number;
  peakRssMb: number;
  swapUsedMb: number;
}

export interface StatsCommandDeps {
  adminIds: ReadonlySet<number>;
  stats: JobStats;
  live: () => LiveFigures;
}

const DEFAULT_PERIODS: [string, number][] = [
  ['24h', 86_400_000],
  ['7d', 604_800_000],
  ['all', Infinity],
];

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m`;
}

function statusLine(label: string, s: PeriodStats): string {
  const parts = Object.entries(s.byStatus).map(([k, v]) => `${k} ${v}`);
  const speech = s.measuredAudioMinutes > 0 ? ` (speech ${s.speechMinutes.toFixed(1)} min of ${s.measuredAudioMinutes.toFixed(1)} VAD-checked)` : '';
  return `${label}: ${parts.length ? parts.join(', ') : 'no jobs'}; ${s.audioMinutes.toFixed(1)} audio min${speech}; ${s.cacheHits} from cache`;
}

/** The model line, and with a queue one line per connected worker: what it runs, and its jobs and RTF p50 in the period. */
function transcriptionLines(figures: TranscriptionFigures, label: string, main: PeriodStats): string[] {
  if (figures.where === 'here') {
    return [`model ${figures.model}${figures.modelLoadMs !== undefined ? ` (loaded in ${(figures.modelLoadMs / 1000).toFixed(1)} s)` : ''}; ${figures.workers} worker(s) × ${figures.threads} thread(s)`];
  }
  const head = `model ${figures.model} through the queue (Redis ${figures.reachable ? 'reachable' : 'UNREACHABLE'})`;
  if (figures.workers === null) return [head, 'workers: not listed (this Redis refuses CLIENT LIST)'];
  const made = new Map(main.byWorker.map((w) => [w.worker, w]));
  return [
    `${head}; ${figures.workers.length} worker(s) connected`,
    ...figures.workers.map(({ name, info }) => {
      const runs = info ? `${info.model}, ${info.concurrency} × ${info.threads} thread(s)` : 'not yet published';
      const mine = made.get(name);
      const rtf = mine?.rtfP50 != null ? `, RTF p50 ${mine.rtfP50.toFixed(2)}` : '';
      return `  ${name}: ${runs}; ${label}: ${mine?.n ?? 0} jobs${rtf}`;
    }),
  ];
}

function formatStats(live: LiveFigures, periods: [string, PeriodStats][]): string {
  const [label, main] = periods[0]!;
  const lines = [
    `voicebot ${live.version}, up ${duration(live.uptimeSeconds)}`,
    ...transcriptionLines(live.transcription, label, main),
    `queue now: ${live.queueDepth}; RSS ${live.rssMb.toFixed(0)} MB (peak ${live.peakRssMb.toFixed(0)} MB); swap in use ${live.swapUsedMb} MB`,
    '',
    ...periods.map(([l, s]) => statusLine(l, s)),
    '',
    `RTF (${label}), p50 / p95:`,
    ...(main.rtf.length ? main.rtf.map((r) => `  ${r.model} ${r.mediaKind}: ${r.rtf.p50.toFixed(2)} / ${r.rtf.p95.toFixed(2)} (n=${r.rtf.n})`) : ['  no transcriptions']),
    `top users (${label}) by audio min: ${main.topUsers.map((u) => `${u.userId} ${u.audioMinutes.toFixed(1)}`).join(', ') || 'none'}`,
    `errors (${label}): ${main.errors.map((e) => `${e.code} ${e.n}`).join(', ') || 'none'}; worker exits ${main.workerExits}`,
  ];
  return lines.join('\n');
}

export function statsCommand(deps: StatsCommandDeps): MiddlewareFn<Context> {
  return async (ctx, next) => {
    const text = ctx.message?.text;
    const match = text ? /^\/stats(?:@\w+)?(?:\s+(.*))?$/s.exec(text) : null;
    if (!match) return next();
    if (!ctx.from || !deps.adminIds.has(ctx.from.id)) {
      await ctx.reply(t(uiLanguageOf(ctx.from?.language_code), 'help'));
      return;
    }
    const arg = match[1]?.trim();
    const window = arg ? parsePeriod(arg) : undefined;
    if (arg && window === undefined) {
      await ctx.reply('Usage: /stats [24h | 7d | 30d | all]');
      return;
    }
    const periods: [string, number][] = arg ? [[arg, window!]] : DEFAULT_PERIODS;
    const live = deps.live();
    const workers = live.transcription.where === 'queue' ? (live.transcription.workers ?? []).map((w) => w.name) : [];
    await ctx.reply(formatStats(live, periods.map(([label, ms]) => [label, deps.stats.period(ms, Date.now(), workers)])));
  };
}
