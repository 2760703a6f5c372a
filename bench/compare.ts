// npm run bench:compare -- a.json b.json ... [--svg chart.svg]
// Tiers side by side, and an SVG chart of short-note RTF by model and tier.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { shortNoteRtf } from './report.js';
import { validateResults, type BenchResults, type RunResult } from './results.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { svg: { type: 'string' }, help: { type: 'boolean' } } });
if (values.help || positionals.length === 0) {
  console.error('Usage: npm run bench:compare -- results-a.json results-b.json ... [--svg chart.svg]');
  process.exit(values.help ? 0 : 2);
}

/** One column per tier: files of the same tier (say, one run per model) are merged. */
const files: BenchResults[] = [];
for (const file of positionals) {
  const data = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  const errors = validateResults(data);
  if (errors.length) {
    console.error(`${file} is not a bench results file:\n  ${errors.join('\n  ')}`);
    process.exit(1);
  }
  const results = data as BenchResults;
  const sameTier = files.find((f) => f.tier.name === results.tier.name);
  if (sameTier) sameTier.runs.push(...results.runs);
  else files.push(results);
}

const configKey = (r: RunResult) => `${r.model}${r.synthetic ? '*' : ''} ${r.dtype} ${r.memoryProfile}${r.encoder ? ` ${r.encoder}` : ''} ${r.workers}×${r.threads}`;
const tiers = files.map((f) => f.tier.name);
const keys = [...new Set(files.flatMap((f) => f.runs.map(configKey)))];

/** The best pool shape of each model on a tier, by short-note RTF. */
export function bestByModel(results: BenchResults): Map<string, RunResult> {
  const best = new Map<string, RunResult>();
  for (const run of results.runs) {
    const rtf = shortNoteRtf(run);
    const current = best.get(run.model);
    if (rtf !== undefined && (!current || rtf < shortNoteRtf(current)!)) best.set(run.model, run);
  }
  return best;
}

console.log(`| configuration | ${tiers.map((t) => `${t}: RTF 5–15 s / peak MB`).join(' | ')} |`);
console.log(`|---|${tiers.map(() => '---').join('|')}|`);
for (const key of keys) {
  const cells = files.map((f) => {
    const run = f.runs.find((r) => configKey(r) === key);
    const rtf = run && shortNoteRtf(run);
    return run && rtf !== undefined ? `${rtf.toFixed(2)} / ${run.memory.peakMb.toFixed(0)}` : '–';
  });
  console.log(`| ${key} | ${cells.join(' | ')} |`);
}
const ref = files[0]!.reference;
console.log(`\nReference: ${ref.label} on ${ref.tier}: RTF ${ref.rtf}. * synthetic weights at real dimensions.`);

if (values.svg) {
  const models = [...new Set(files.flatMap((f) => f.runs.map((r) => r.model)))];
  const bars = models.flatMap((model) => files.map((f, t) => ({ model, tier: t, run: bestByModel(f).get(model) })));
  const maxRtf = Math.max(ref.rtf, ...bars.map((b) => (b.run ? shortNoteRtf(b.run)! : 0))) * 1.1;
  // Wide enough for the bars, the legend (170 px a tier) and the title.
  const width = Math.max(660, 120 + models.length * (files.length * 34 + 30), 80 + tiers.length * 170);
  const height = 320;
  const plotTop = 30;
  const plotBottom = height - 70;
  const y = (rtf: number) => plotBottom - (rtf / maxRtf) * (plotBottom - plotTop);
  const colours = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948'];
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="10" y="18" font-weight="bold">RTF p50 of short voice notes (5–15 s), best pool shape per model and tier (lower is faster)</text>`,
    `<line x1="60" y1="${plotBottom}" x2="${width - 10}" y2="${plotBottom}" stroke="#333"/>`,
    `<line x1="60" y1="${y(1)}" x2="${width - 10}" y2="${y(1)}" stroke="#999" stroke-dasharray="4 3"/><text x="8" y="${y(1) + 4}">RTF 1</text>`,
    `<line x1="60" y1="${y(ref.rtf)}" x2="${width - 10}" y2="${y(ref.rtf)}" stroke="#e15759" stroke-dasharray="6 3"/><text x="8" y="${y(ref.rtf) + 4}" fill="#e15759">seed ${ref.rtf}</text>`,
  ];
  models.forEach((model, m) => {
    const groupX = 80 + m * (files.length * 34 + 30);
    files.forEach((_, t) => {
      const run = bars.find((b) => b.model === model && b.tier === t)?.run;
      if (!run) return;
      const rtf = shortNoteRtf(run)!;
      const x = groupX + t * 34;
      parts.push(`<rect x="${x}" y="${y(rtf)}" width="28" height="${plotBottom - y(rtf)}" fill="${colours[t % colours.length]}"><title>${model} on ${tiers[t]}: ${rtf.toFixed(2)} (${run.workers}×${run.threads}, ${run.memoryProfile})</title></rect>`);
      parts.push(`<text x="${x + 14}" y="${y(rtf) - 4}" text-anchor="middle" font-size="10">${rtf.toFixed(2)}</text>`);
    });
    parts.push(`<text x="${groupX + (files.length * 34) / 2}" y="${plotBottom + 16}" text-anchor="middle">${model}${bars.some((b) => b.model === model && b.run?.synthetic) ? '*' : ''}</text>`);
  });
  tiers.forEach((tier, t) => {
    parts.push(`<rect x="${60 + t * 170}" y="${height - 30}" width="12" height="12" fill="${colours[t % colours.length]}"/><text x="${76 + t * 170}" y="${height - 20}">${tier}</text>`);
  });
  parts.push('</svg>');
  writeFileSync(values.svg, `${parts.join('\n')}\n`);
  console.log(`chart: ${values.svg}`);
}
