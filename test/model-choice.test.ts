// WHISPER_MODEL=auto on CPU as well as memory: the speed table, its estimates and the calibration.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCalibration, writeCalibration } from '../src/asr/calibration.js';
import { MODEL_CATALOG } from '../src/asr/catalog.js';
import { chooseModel, requiredMb, rtfAt10s, tableRtf, type Calibration } from '../src/asr/model-choice.js';
import { SPEED_SAMPLES } from '../src/asr/speed-table.js';
import { loadConfig } from '../src/config.js';
import type { BenchResults } from '../bench/results.js';
import { REPO } from './support/test-model.js';

const spec = (name: string) => MODEL_CATALOG.find((m) => m.name === name)!;
const policy = { maxRtf: 0.5, samples: SPEED_SAMPLES };
const twoVcpus = { vcpus: 2, memoryMb: 24_000 };
const oneByTwo = { workers: 1, threads: 2 };
const calibration = (factor: number, vcpus = 2): Calibration => ({
  createdAt: '2026-11-26T06:00:00.000Z',
  cpuModel: 'test CPU',
  vcpus,
  model: 'base',
  threads: 2,
  measuredRtf10s: 0.2 * factor,
  tableRtf10s: 0.2,
  factor,
});

describe('the speed table', () => {
  it('has one row per single-worker q8 full-window run in bench/results, each equal to its file', () => {
    const dir = path.join(REPO, 'bench/results');
    const fromFiles: string[] = [];
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const results = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as BenchResults;
      // Other benches (bench:vad, --baseline bare) write their own schemas beside the tier tables.
      if (results.schema !== 'voicebot-bench/1') continue;
      for (const run of results.runs) {
        const rtf = rtfAt10s(run.clips.map((c) => ({ seconds: c.seconds, rtf: c.rtf.p50 })));
        // The bot encodes full 30-s windows by default: runs fitted to the note would flatter it.
        if (run.workers !== 1 || run.dtype !== 'q8' || run.encoder?.endsWith('-fit') || rtf === undefined) continue;
        fromFiles.push(`${run.model} ${run.threads} ${rtf.toFixed(3)} ${file} ${run.memoryProfile}`);
      }
    }
    const table = SPEED_SAMPLES.map((s) => `${s.model} ${s.threads} ${s.rtf10s.toFixed(3)} ${s.source}`);
    expect(table.sort()).toEqual(fromFiles.sort());
  });

  it('interpolates a 10-s note between the 9-s and 15-s clips', () => {
    expect(rtfAt10s([{ seconds: 9, rtf: 0.6 }, { seconds: 15, rtf: 0.3 }])).toBeCloseTo(0.55);
    expect(rtfAt10s([{ seconds: 5, rtf: 0.6 }])).toBeUndefined();
  });

  it('never flatters: more threads than measured count as the most measured, fewer scale up, unmeasured models scale by parameters', () => {
    const twoThreads = tableRtf(spec('small'), 2, SPEED_SAMPLES)!;
    expect(twoThreads.basis).toBe('measured');
    expect(tableRtf(spec('small'), 8, SPEED_SAMPLES)!.rtf).toBe(twoThreads.rtf);
    const onlyTwo = SPEED_SAMPLES.filter((s) => s.threads === 2);
    expect(tableRtf(spec('small'), 1, onlyTwo)!.rtf).toBeCloseTo(twoThreads.rtf * 2);
    expect(tableRtf(spec('medium'), 2, SPEED_SAMPLES)!.rtf).toBeCloseTo((twoThreads.rtf * 769) / 244);
    expect(tableRtf(spec('tiny'), 2, SPEED_SAMPLES)!.rtf).toBeLessThan(tableRtf(spec('base'), 2, SPEED_SAMPLES)!.rtf);
  });
});

describe('the catalog', () => {
  it('plans each measured model for the highest peak of the current code\'s runs, less the bench\'s own process', () => {
    // The runs since the worker loads the model without transformers.js (README, Choosing a VPS), default profile.
    const current = /-(rows-own-loader|own-loader-600s-(\d|repeat\d)|catalog-tiny-own-loader)\.json$/;
    const dir = path.join(REPO, 'bench/results');
    const measured = new Map<string, number>();
    for (const file of readdirSync(dir).filter((f) => current.test(f))) {
      const results = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as BenchResults;
      for (const run of results.runs) {
        if (run.workers !== 1 || run.dtype !== 'q8' || run.memoryProfile !== 'default') continue;
        const workerPeak = run.memory.peakMb - run.memory.importMb;
        measured.set(run.model, Math.max(measured.get(run.model) ?? 0, workerPeak));
      }
    }
    expect([...measured.keys()].sort()).toEqual(['base', 'small', 'tiny']);
    for (const [model, peak] of measured) {
      // Never less than what runs, and not a stale figure from code that needed more.
      expect(spec(model).workerPeakMb, model).toBeGreaterThanOrEqual(Math.ceil(peak));
      expect(spec(model).workerPeakMb, model).toBeLessThanOrEqual(Math.ceil(peak) + 5);
    }
  });
});

describe('auto on memory and CPU', () => {
  it('on 2 vCPUs with plenty of memory and AUTO_MAX_RTF 0.2 picks base, not medium: small and medium are too slow', () => {
    const choice = chooseModel(twoVcpus, oneByTwo, { ...policy, maxRtf: 0.2 });
    expect(choice.model.name).toBe('base');
    const needs = (name: string) => requiredMb(spec(name), 1);
    expect(choice.reason).toMatch(new RegExp(`small ${needs('small')} MB RTF 0\\.\\d\\d too slow, medium ${needs('medium')} MB RTF \\d\\.\\d\\d \\(small's × parameters\\) too slow`));
    expect(choice.reason.split('\n')).toHaveLength(1);
  });

  it('takes a larger model when the operator accepts its speed', () => {
    expect(chooseModel(twoVcpus, oneByTwo, { ...policy, maxRtf: 0.6 }).model.name).toBe('small');
    expect(chooseModel(twoVcpus, oneByTwo, { ...policy, maxRtf: 2 }).model.name).toBe('medium');
  });

  it('prefers the calibration of this machine, and ignores one measured with other vCPUs', () => {
    // A maximum just under small's table figure on 2 threads: this machine's calibration (× 0.8) brings it below.
    const strict = { ...policy, maxRtf: tableRtf(spec('small'), 2, SPEED_SAMPLES)!.rtf * 0.9 };
    const faster = chooseModel(twoVcpus, oneByTwo, { ...strict, calibration: calibration(0.8) });
    expect(faster.model.name).toBe('small');
    expect(faster.reason).toMatch(/× 0\.80 from this machine's calibration/);
    const elsewhere = chooseModel(twoVcpus, oneByTwo, { ...strict, calibration: calibration(0.5, 8) });
    expect(elsewhere.model.name).toBe('base');
    expect(elsewhere.reason).toMatch(/measured on 8 vCPU\(s\), this machine has 2: run --calibrate again/);
    expect(chooseModel({ vcpus: 1, memoryMb: 1024 }, { workers: 1, threads: 1 }, { ...policy, calibration: calibration(10, 1) }).model.name).toBe('tiny');
  });

  it('takes the fastest model that fits when none is fast enough, and says so', () => {
    const choice = chooseModel({ vcpus: 1, memoryMb: 1024 }, { workers: 1, threads: 1 }, { ...policy, maxRtf: 0.02 });
    expect(choice.model.name).toBe('tiny');
    expect(choice.reason).toMatch(/^tiny: no model is fast enough/);
  });
});

describe('the calibration file', () => {
  it('round-trips, and says why when it is absent or broken', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'voicebot-calibration-'));
    expect(readCalibration(dir).note).toMatch(/not calibrated/);
    writeCalibration(dir, calibration(1.1));
    expect(readCalibration(dir).calibration).toEqual(calibration(1.1));
    writeFileSync(path.join(dir, 'calibration.json'), '{"factor": -1}');
    expect(readCalibration(dir)).toEqual({ note: expect.stringMatching(/is not a calibration/) });
  });
});

describe('RTF_BUDGET', () => {
  const budget = (RTF_BUDGET: string | undefined, WHISPER_MODEL = 'small') => loadConfig({ BOT_TOKEN: '1:a', WHISPER_MODEL, RTF_BUDGET }, twoVcpus).rtfBudget;

  it('is one number, or one per model, for the model that runs', () => {
    expect(budget(undefined)).toBe(1);
    expect(budget('0.8')).toBe(0.8);
    expect(budget('0.8, small=1.5')).toBe(1.5);
    expect(budget('small=1.5,0.8', 'base')).toBe(0.8);
    expect(budget('base=0.6', 'tiny')).toBe(1);
    expect(budget('org/my-whisper=2', 'org/my-whisper')).toBe(2);
  });

  it.each(['fast', 'huge=1', 'small=0', 'small=-1'])('stops startup on %s, naming the variable', (value) => {
    expect(() => budget(value)).toThrow(/^RTF_BUDGET: /);
  });
});
