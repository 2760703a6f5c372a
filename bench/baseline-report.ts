// The tables `npm run bench -- --baseline bare` prints.
import type { BaselineResult, ProjectNote } from './baseline.js';

const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const seconds = (ms: number) => (ms / 1000).toFixed(2);
/** A note's total and where it went: ffmpeg, the worker's inference (of it the encoder), the rest is the hand-over. */
const breakdown = (n: ProjectNote) => `${seconds(n.totalMs)} s (ffmpeg ${n.decodeMs.toFixed(0)}, inference ${n.inferenceMs.toFixed(0)}, encoder ${n.encoderMs.toFixed(0)})`;

export function formatBaseline(results: BaselineResult[]): string {
  const clips = results.flatMap((r) => r.clips.map((c) => ({ note: `${r.model} ${c.seconds} s`, c })));
  const decoder = clips.map(({ note, c }) =>
    [
      note,
      `${c.project.decoderMsPerToken.toFixed(1)} / ${c.bare.decoderMsPerToken.toFixed(1)} = ${ratio(c.project.decoderMsPerToken, c.bare.decoderMsPerToken)}`,
      `${c.bareInWorker.decoderMsPerToken.toFixed(1)} (${ratio(c.bareInWorker.decoderMsPerToken, c.bare.decoderMsPerToken)})`,
      `${c.beam.decoderMsPerToken.toFixed(1)} (${ratio(c.beam.decoderMsPerToken, c.project.decoderMsPerToken)}), ${seconds(c.beam.totalMs)} s`,
      `${c.fallback.fallbacks} fallbacks, ${seconds(c.fallback.totalMs)} s (${ratio(c.fallback.totalMs, c.project.totalMs)})`,
    ].join(' | '),
  );
  const totals = clips.map(({ note, c }) =>
    [
      note,
      `${seconds(c.bare.totalMs)} s (encoder ${c.bare.encoderMs.toFixed(0)})`,
      `${breakdown(c.project)}: ${ratio(c.project.totalMs, c.bare.totalMs)}`,
      `${breakdown(c.fused)}: ${ratio(c.fused.totalMs, c.bare.totalMs)}`,
      `${breakdown(c.fusedFit)}: ${ratio(c.fusedFit.totalMs, c.bare.totalMs)}`,
    ].join(' | '),
  );
  return [
    '### Decoder: the project against a bare onnxruntime loop on the same graph (medians, interleaved note by note, each side in a process of its own)',
    '| note | decoder ms/token: project / bare | bare in a worker | beam 5: ms/token, total | fallback on |',
    '|---|---|---|---|---|',
    ...decoder.map((r) => `| ${r} |`),
    '',
    '### Note total, ffmpeg to text (ms inside the brackets), against the bare loop\'s encoder + decoder',
    '| note | bare loop | project, hub graph, 30-s window | fused attention, 30-s window (default) | fused, ASR_WINDOW=fit |',
    '|---|---|---|---|---|',
    ...totals.map((r) => `| ${r} |`),
  ].join('\n');
}
