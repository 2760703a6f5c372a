// Markdown tables of bench results: short notes first, because they are what people send.
import type { BenchResults, RunResult } from './results.js';

const fixed = (n: number, digits = 2) => n.toFixed(digits);
/** MB, with a part of it or a related figure in brackets when the results file has it. */
const withPart = (mb: number, part: number | undefined) => (part === undefined ? fixed(mb, 0) : `${fixed(mb, 0)} (${fixed(part, 0)})`);
const shape = (r: RunResult) => `${r.workers}×${r.threads}`;
const dtype = (r: RunResult) => `${r.dtype} ${r.memoryProfile}${r.encoder ? ` ${r.encoder}` : ''}`;
const label = (r: RunResult) => `${r.model}${r.synthetic ? '*' : ''}`;

/** RTF p50 of clips from 5 to 15 s: Whisper encodes a full 30-s window for each, so they cost the most per second. */
export function shortNoteRtf(run: RunResult): number | undefined {
  const short = run.clips.filter((c) => c.seconds >= 5 && c.seconds <= 15);
  return short.length ? Math.max(...short.map((c) => c.rtf.p50)) : undefined;
}

/** One configuration measured in several runs: its peaks, run by run (each run is a process of its own). */
export interface RepeatedPeaks {
  run: RunResult;
  peaks: number[];
  /** Per clip length, the peaks of the runs that measured it. */
  clipPeaks: Map<number, number[]>;
}

/**
 * The configurations measured more than once (`--repeat`), in the order first met. Peaks move by
 * 10–20 MB from one run of the same code to the next, so a memory target is judged over several.
 */
export function repeatedPeaks(runs: readonly RunResult[]): RepeatedPeaks[] {
  const groups = new Map<string, RepeatedPeaks>();
  for (const r of runs) {
    const key = `${label(r)} ${dtype(r)} ${shape(r)}`;
    const group = groups.get(key) ?? { run: r, peaks: [], clipPeaks: new Map<number, number[]>() };
    group.peaks.push(r.memory.peakMb);
    for (const c of r.clips) if (c.peakMb !== undefined) group.clipPeaks.set(c.seconds, [...(group.clipPeaks.get(c.seconds) ?? []), c.peakMb]);
    groups.set(key, group);
  }
  return [...groups.values()].filter((g) => g.peaks.length > 1);
}

const spread = (values: readonly number[]) => `${values.map((v) => fixed(v, 0)).join(', ')} (max ${fixed(Math.max(...values), 0)})`;

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function formatReport(results: BenchResults): string {
  const lengths = [...new Set(results.runs.flatMap((r) => r.clips.map((c) => c.seconds)))].sort((a, b) => a - b);
  const t = results.tier;
  const parts = [
    `## ${t.name}: ${t.vcpus} vCPU, ${t.memoryMb} MB RAM, ${t.swapMb} MB swap, ${t.cpuModel} (${t.emulation})`,
    '',
    '### Short voice notes (5–15 s): RTF p50 (worst of the lengths) and p95',
    table(
      ['model', 'dtype memory', 'workers×threads', ...lengths.filter((s) => s <= 15).map((s) => `${s} s p50 / p95`)],
      results.runs.map((r) => [label(r), dtype(r), shape(r), ...lengths.filter((s) => s <= 15).map((s) => {
        const c = r.clips.find((x) => x.seconds === s);
        return c ? `${fixed(c.rtf.p50)} / ${fixed(c.rtf.p95)}` : '–';
      })]),
    ),
    '',
    '### All lengths: RTF p50 (max), encoder ms per 30-s window, decoder ms per token',
    table(
      ['model', 'dtype memory', 'w×t', ...lengths.map((s) => `${s} s`), 'enc ms/window', 'dec ms/token'],
      results.runs.map((r) => {
        const mid = r.clips.find((c) => c.seconds === 30) ?? r.clips.at(-1)!;
        return [label(r), dtype(r), shape(r), ...lengths.map((s) => {
          const c = r.clips.find((x) => x.seconds === s);
          return c ? `${fixed(c.rtf.p50)} (${fixed(c.rtf.max)})` : '–';
        }), fixed(mid.encoderMsPerWindow, 0), fixed(mid.decoderMsPerToken, 1)];
      }),
    ),
    '',
    '### Memory (process RSS, MB, worker threads included), load and throughput',
    table(
      ['model', 'dtype memory', 'w×t', 'import', 'loaded (load peak)', 'first note (its peak)', 'steady (file-backed)', 'peak', 'swap in/out pages', 'major faults', 'load s', 'cold start s', 'audio s per wall s', 'queue wait max s'],
      results.runs.map((r) => [
        label(r), dtype(r), shape(r),
        fixed(r.memory.importMb, 0), withPart(r.memory.loadedMb, r.memory.loadPeakMb), withPart(r.memory.firstNoteMb, r.memory.firstNotePeakMb), withPart(r.memory.steadyMb, r.memory.steadyFileMb), fixed(r.memory.peakMb, 0),
        `${r.swap.pswpin}/${r.swap.pswpout}`, String(r.swap.majorFaults),
        fixed(r.loadMs / 1000, 1), fixed(r.coldStartMs / 1000, 1),
        `${fixed(r.throughput.audioSecondsPerWallSecond, 1)} (${r.throughput.notes}×${fixed(r.throughput.clipSeconds, 0)} s)`,
        fixed(r.throughput.queueWaitMs.max / 1000, 1),
      ]),
    ),
    '',
    '### Peak RSS per clip length, with notes queued at once, and over a soak of one short note repeated (MB)',
    table(
      ['model', 'dtype memory', 'w×t', ...lengths.map((s) => `${s} s`), 'notes queued at once', 'soak: notes 11–100', 'soak: last 100'],
      results.runs.map((r) => [
        label(r), dtype(r), shape(r),
        ...lengths.map((s) => {
          const peak = r.clips.find((x) => x.seconds === s)?.peakMb;
          return peak === undefined ? '–' : fixed(peak, 0);
        }),
        r.memory.queuedPeakMb === undefined ? '–' : fixed(r.memory.queuedPeakMb, 0),
        r.soak ? `${fixed(r.soak.firstPeakMb, 0)}` : '–',
        r.soak ? `${fixed(r.soak.lastPeakMb, 0)} (${r.soak.notes} notes)` : '–',
      ]),
    ),
    '',
    ...repeatedSection(results.runs, lengths),
    `Reference: ${results.reference.label} on ${results.reference.tier}: RTF ${results.reference.rtf} on a ${results.reference.audioSeconds}-s note (${results.reference.processingSeconds} s).`,
  ];
  if (results.runs.some((r) => r.synthetic)) {
    parts.push(`\\* synthetic weights at the real dimensions, decoding a fixed ${results.settings.fixedTokensPerSecond} tokens per second of audio.`);
  }
  return parts.join('\n');
}

function repeatedSection(runs: readonly RunResult[], lengths: readonly number[]): string[] {
  const repeated = repeatedPeaks(runs);
  if (repeated.length === 0) return [];
  return [
    '### Peak RSS over repeated runs of one configuration (MB, run by run)',
    table(
      ['model', 'dtype memory', 'w×t', 'runs', 'whole run', ...lengths.map((s) => `${s} s`)],
      repeated.map((g) => [
        label(g.run), dtype(g.run), shape(g.run), String(g.peaks.length), spread(g.peaks),
        ...lengths.map((s) => {
          const peaks = g.clipPeaks.get(s);
          return peaks ? spread(peaks) : '–';
        }),
      ]),
    ),
    '',
  ];
}
