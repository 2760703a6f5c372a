// The table `npm run bench -- --baseline bare` prints.
import type { BaselineResult } from './baseline.js';

const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

export function formatBaseline(results: BaselineResult[]): string {
  const rows = results.flatMap((r) =>
    r.clips.map((c) =>
      [
        `${r.model} ${c.seconds} s`,
        `${c.project.decoderMsPerToken.toFixed(1)} / ${c.bare.decoderMsPerToken.toFixed(1)} = ${ratio(c.project.decoderMsPerToken, c.bare.decoderMsPerToken)}`,
        `${c.bareInWorker.decoderMsPerToken.toFixed(1)} (${ratio(c.bareInWorker.decoderMsPerToken, c.bare.decoderMsPerToken)})`,
        `${(c.project.totalMs / 1000).toFixed(2)} / ${(c.bare.totalMs / 1000).toFixed(2)} = ${ratio(c.project.totalMs, c.bare.totalMs)}`,
        `${c.project.encoderMs.toFixed(0)} / ${c.bare.encoderMs.toFixed(0)}`,
        `${c.beam.decoderMsPerToken.toFixed(1)} (${ratio(c.beam.decoderMsPerToken, c.project.decoderMsPerToken)}), ${(c.beam.totalMs / 1000).toFixed(2)} s`,
        `${c.fallback.fallbacks} fallbacks, ${(c.fallback.totalMs / 1000).toFixed(2)} s (${ratio(c.fallback.totalMs, c.project.totalMs)})`,
      ].join(' | '),
    ),
  );
  return [
    '### Project against a bare onnxruntime loop on the same files (medians, interleaved in one process)',
    '| note | decoder ms/token: project / bare | bare in a worker | note total s: project (ffmpeg to text) / bare (encoder + decoder) | encoder ms | beam 5: ms/token, total | fallback on |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r} |`),
  ].join('\n');
}
