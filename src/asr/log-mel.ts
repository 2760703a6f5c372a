// Whisper's log-mel features, computed the way transformers.js's WhisperFeatureExtractor does (same
// window, same mel filters, taken from it) but with a real FFT built for n_fft = 400 and frames of
// zero padding skipped: ~320 ms per window in transformers.js's generic code, a few tens here.

const C1 = Math.cos((2 * Math.PI) / 5);
const C2 = Math.cos((4 * Math.PI) / 5);
const S1 = Math.sin((2 * Math.PI) / 5);
const S2 = Math.sin((4 * Math.PI) / 5);

interface Stage {
  radix: 2 | 4 | 5;
  /** n / radix at this stage. */
  span: number;
  stride: number;
  /** W_n^(p·k), interleaved (re, im), at (p·radix + k)·2. */
  twiddles: Float64Array;
}

/**
 * A complex FFT of one fixed size whose factors are 2, 4 and 5 (Whisper's 200 = 4·2·5·5), Stockham
 * autosort (no bit reversal), with the butterflies written out: a generic radix loop was 5× slower.
 */
class ComplexFft {
  private readonly stages: Stage[] = [];
  private readonly work: Float64Array;

  constructor(size: number) {
    let n = size;
    let stride = 1;
    for (const radix of [4, 2, 5] as const) {
      while (n % radix === 0) {
        const span = n / radix;
        const twiddles = new Float64Array(span * radix * 2);
        for (let p = 0; p < span; p++) {
          for (let k = 0; k < radix; k++) {
            const angle = (-2 * Math.PI * p * k) / n;
            twiddles[(p * radix + k) * 2] = Math.cos(angle);
            twiddles[(p * radix + k) * 2 + 1] = Math.sin(angle);
          }
        }
        this.stages.push({ radix, span, stride, twiddles });
        n = span;
        stride *= radix;
      }
    }
    if (n !== 1) throw new Error(`FFT size ${size} has factors other than 2 and 5`);
    this.work = new Float64Array(size * 2);
  }

  /** In place on interleaved (re, im) pairs. */
  transform(data: Float64Array): void {
    let x = data;
    let y = this.work;
    for (const stage of this.stages) {
      if (stage.radix === 4) radix4(stage, x, y);
      else if (stage.radix === 2) radix2(stage, x, y);
      else radix5(stage, x, y);
      [x, y] = [y, x];
    }
    if (x !== data) data.set(x);
  }
}

/** y[q + s(r·p + k)] = W_n^(pk) · Σ_j x[q + s(p + j·span)] · W_r^(jk) */
function store(y: Float64Array, at: number, re: number, im: number, twiddles: Float64Array, t: number): void {
  const tr = twiddles[t]!;
  const ti = twiddles[t + 1]!;
  y[at] = re * tr - im * ti;
  y[at + 1] = re * ti + im * tr;
}

function radix2({ span, stride, twiddles }: Stage, x: Float64Array, y: Float64Array): void {
  for (let p = 0; p < span; p++) {
    for (let q = 0; q < stride; q++) {
      const i0 = (q + stride * p) * 2;
      const i1 = i0 + stride * span * 2;
      const o = (q + stride * 2 * p) * 2;
      y[o] = x[i0]! + x[i1]!;
      y[o + 1] = x[i0 + 1]! + x[i1 + 1]!;
      store(y, o + stride * 2, x[i0]! - x[i1]!, x[i0 + 1]! - x[i1 + 1]!, twiddles, (p * 2 + 1) * 2);
    }
  }
}

function radix4({ span, stride, twiddles }: Stage, x: Float64Array, y: Float64Array): void {
  const step = stride * span * 2;
  for (let p = 0; p < span; p++) {
    for (let q = 0; q < stride; q++) {
      const i0 = (q + stride * p) * 2;
      const a0r = x[i0]!;
      const a0i = x[i0 + 1]!;
      const a1r = x[i0 + step]!;
      const a1i = x[i0 + step + 1]!;
      const a2r = x[i0 + 2 * step]!;
      const a2i = x[i0 + 2 * step + 1]!;
      const a3r = x[i0 + 3 * step]!;
      const a3i = x[i0 + 3 * step + 1]!;
      const t0r = a0r + a2r;
      const t0i = a0i + a2i;
      const t1r = a0r - a2r;
      const t1i = a0i - a2i;
      const t2r = a1r + a3r;
      const t2i = a1i + a3i;
      // (a1 - a3)·(-i)
      const t3r = a1i - a3i;
      const t3i = a3r - a1r;
      const o = (q + stride * 4 * p) * 2;
      const out = stride * 2;
      const t = p * 8;
      y[o] = t0r + t2r;
      y[o + 1] = t0i + t2i;
      store(y, o + out, t1r + t3r, t1i + t3i, twiddles, t + 2);
      store(y, o + 2 * out, t0r - t2r, t0i - t2i, twiddles, t + 4);
      store(y, o + 3 * out, t1r - t3r, t1i - t3i, twiddles, t + 6);
    }
  }
}

function radix5({ span, stride, twiddles }: Stage, x: Float64Array, y: Float64Array): void {
  const step = stride * span * 2;
  for (let p = 0; p < span; p++) {
    for (let q = 0; q < stride; q++) {
      const i0 = (q + stride * p) * 2;
      const a0r = x[i0]!;
      const a0i = x[i0 + 1]!;
      const b1r = x[i0 + step]! + x[i0 + 4 * step]!;
      const b1i = x[i0 + step + 1]! + x[i0 + 4 * step + 1]!;
      const b2r = x[i0 + 2 * step]! + x[i0 + 3 * step]!;
      const b2i = x[i0 + 2 * step + 1]! + x[i0 + 3 * step + 1]!;
      const d1r = x[i0 + step]! - x[i0 + 4 * step]!;
      const d1i = x[i0 + step + 1]! - x[i0 + 4 * step + 1]!;
      const d2r = x[i0 + 2 * step]! - x[i0 + 3 * step]!;
      const d2i = x[i0 + 2 * step + 1]! - x[i0 + 3 * step + 1]!;
      const t1r = a0r + C1 * b1r + C2 * b2r;
      const t1i = a0i + C1 * b1i + C2 * b2i;
      const t2r = a0r + C2 * b1r + C1 * b2r;
      const t2i = a0i + C2 * b1i + C1 * b2i;
      const u1r = S1 * d1r + S2 * d2r;
      const u1i = S1 * d1i + S2 * d2i;
      const u2r = S2 * d1r - S1 * d2r;
      const u2i = S2 * d1i - S1 * d2i;
      const o = (q + stride * 5 * p) * 2;
      const out = stride * 2;
      const t = p * 10;
      y[o] = a0r + b1r + b2r;
      y[o + 1] = a0i + b1i + b2i;
      // y1 = t1 - i·u1, y4 = t1 + i·u1; y2 = t2 - i·u2, y3 = t2 + i·u2
      store(y, o + out, t1r + u1i, t1i - u1r, twiddles, t + 2);
      store(y, o + 2 * out, t2r + u2i, t2i - u2r, twiddles, t + 4);
      store(y, o + 3 * out, t2r - u2i, t2i + u2r, twiddles, t + 6);
      store(y, o + 4 * out, t1r - u1i, t1i + u1r, twiddles, t + 8);
    }
  }
}

/** Whisper's analysis window: periodic Hann, n_fft long (transformers.js's `window_function(n_fft, 'hann')`). */
export function hannWindow(length: number): Float64Array {
  const factor = (2 * Math.PI) / length;
  return Float64Array.from({ length }, (_, i) => 0.5 - 0.5 * Math.cos(i * factor));
}

const slaneyMel = (hertz: number) => (hertz >= 1000 ? 15 + Math.log(hertz / 1000) * (27 / Math.log(6.4)) : (3 * hertz) / 200);
const slaneyHertz = (mel: number) => (mel >= 15 ? 1000 * Math.exp((Math.log(6.4) / 27) * (mel - 15)) : (200 * mel) / 3);
const linspace = (start: number, end: number, count: number) => {
  const step = (end - start) / (count - 1);
  return Float64Array.from({ length: count }, (_, i) => start + step * i);
};

/**
 * Whisper's mel filters, [mel][frequency bin]: triangles on the Slaney mel scale from 0 to 8 kHz,
 * each scaled to unit area (librosa's `norm='slaney'`). The hub's preprocessor_config.json leaves
 * them out; this is the computation transformers.js and Hugging Face's Python feature extractor
 * make, in the same order of operations, so the features are the same to the bit.
 */
export function whisperMelFilters(nFft: number, mels: number, sampleRate: number): number[][] {
  const bins = Math.floor(1 + nFft / 2);
  const edges = Array.from(linspace(slaneyMel(0), slaneyMel(8000), mels + 2), slaneyHertz);
  const frequencies = linspace(0, Math.floor(sampleRate / 2), bins);
  return Array.from({ length: mels }, (_, m) => {
    const norm = 2 / (edges[m + 2]! - edges[m]!);
    return Array.from(frequencies, (frequency) => {
      const down = -(edges[m]! - frequency) / (edges[m + 1]! - edges[m]!);
      const up = (edges[m + 2]! - frequency) / (edges[m + 2]! - edges[m + 1]!);
      return Math.max(0, Math.min(down, up)) * norm;
    });
  });
}

export interface LogMelConfig {
  /** The feature extractor's analysis window (Hann, n_fft long). */
  window: ArrayLike<number>;
  /** [mel][frequency bin], n_fft / 2 + 1 bins. */
  melFilters: readonly (readonly number[])[];
  hopLength: number;
  /** Samples in one window (30 s); shorter audio is padded with zeros. */
  samples: number;
  /** Frames per window (3000). */
  frames: number;
}

/** One window's features: [mel][frame], row-major, as the encoder takes them. */
export class LogMelSpectrogram {
  private readonly nFft: number;
  private readonly bins: number;
  private readonly fft: ComplexFft;
  private readonly packed: Float64Array;
  /** exp(-2πik / n_fft) for the real-FFT split, k = 0 .. n_fft/2. */
  private readonly splitTwiddles: Float64Array;
  private readonly filters: { first: number; weights: Float32Array }[];
  private readonly power: Float64Array;

  constructor(private readonly config: LogMelConfig) {
    this.nFft = config.window.length;
    if (this.nFft % 2 !== 0) throw new Error(`n_fft must be even, got ${this.nFft}`);
    this.bins = this.nFft / 2 + 1;
    this.fft = new ComplexFft(this.nFft / 2);
    this.packed = new Float64Array(this.nFft);
    this.splitTwiddles = new Float64Array(this.bins * 2);
    for (let k = 0; k < this.bins; k++) {
      this.splitTwiddles[k * 2] = Math.cos((-2 * Math.PI * k) / this.nFft);
      this.splitTwiddles[k * 2 + 1] = Math.sin((-2 * Math.PI * k) / this.nFft);
    }
    // Each mel filter is non-zero on a few neighbouring bins only.
    this.filters = config.melFilters.map((row) => {
      let first = row.findIndex((w) => w !== 0);
      if (first < 0) first = 0;
      let last = row.length - 1;
      while (last > first && row[last] === 0) last--;
      return { first, weights: Float32Array.from(row.slice(first, last + 1)) };
    });
    this.power = new Float64Array(this.bins);
  }

  compute(audio: Float32Array): Float32Array {
    const { window, hopLength, samples, frames } = this.config;
    const nFft = this.nFft;
    const half = nFft / 2;
    const mels = this.filters.length;
    const length = Math.min(audio.length, samples);
    // Reflect-padded by n_fft/2 on both sides, as transformers.js centres its frames.
    const padded = new Float32Array(samples + nFft);
    padded.set(audio.subarray(0, length), half);
    for (let i = 1; i <= half; i++) {
      padded[half - i] = padded[half + i]!;
      padded[half + samples - 1 + i] = padded[half + samples - 1 - i]!;
    }
    // Frames past this one see only zero padding: their power is 0 without an FFT.
    const lastAudible = length + nFft >= samples ? frames : Math.min(frames, Math.ceil((length + half) / hopLength));

    const features = new Float32Array(mels * frames);
    const floor = 1e-10;
    const { packed, power, splitTwiddles: tw } = this;
    for (let frame = 0; frame < frames; frame++) {
      if (frame >= lastAudible) {
        for (let m = 0; m < mels; m++) features[m * frames + frame] = floor;
        continue;
      }
      const offset = frame * hopLength;
      // Real input packed as complex: z[n] = x[2n] + i·x[2n+1].
      for (let n = 0; n < nFft; n++) packed[n] = padded[offset + n]! * window[n]!;
      this.fft.transform(packed);
      for (let k = 0; k <= half; k++) {
        const a = k % half;
        const b = (half - k) % half;
        const zr = packed[a * 2]!;
        const zi = packed[a * 2 + 1]!;
        const cr = packed[b * 2]!;
        const ci = -packed[b * 2 + 1]!;
        // X[k] = (Z[k] + conj Z[M-k]) / 2 - i·W^k (Z[k] - conj Z[M-k]) / 2
        const er = (zr + cr) / 2;
        const ei = (zi + ci) / 2;
        const or = (zi - ci) / 2;
        const oi = -(zr - cr) / 2;
        const re = er + tw[k * 2]! * or - tw[k * 2 + 1]! * oi;
        const im = ei + tw[k * 2]! * oi + tw[k * 2 + 1]! * or;
        power[k] = re * re + im * im;
      }
      for (let m = 0; m < mels; m++) {
        const { first, weights } = this.filters[m]!;
        let sum = 0;
        for (let j = 0; j < weights.length; j++) sum += weights[j]! * power[first + j]!;
        features[m * frames + frame] = Math.max(floor, sum);
      }
    }

    let max = -Infinity;
    for (let i = 0; i < features.length; i++) {
      const value = Math.log10(features[i]!);
      features[i] = value;
      if (value > max) max = value;
    }
    const threshold = max - 8;
    for (let i = 0; i < features.length; i++) features[i] = (Math.max(features[i]!, threshold) + 4) / 4;
    return features;
  }
}
