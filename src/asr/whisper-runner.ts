// Runs Whisper through @huggingface/transformers, on a worker thread only.
// Its model, tokenizer and feature extractor load unchanged from the hub's files; the window loop is
// ours so that one encoder pass per window serves both language detection and decoding, and so that
// progress can be reported per window.
import vm from 'node:vm';
import v8 from 'node:v8';
import { AutoFeatureExtractor, AutoModelForSpeechSeq2Seq, AutoTokenizer, env, Tensor } from '@huggingface/transformers';
import { fixedTokenBudget, maxNewTokens } from './decoding-policy.js';
import { cropFrames, encoderFrames, type WindowSettings } from './encoder-window.js';
import { withRewrittenEncoder } from './graph-rewrite/session-hook.js';
import type { Segment, TranscribeRequest, TranscriptionResult, WorkerInit } from './protocol.js';
import { fixedWindows, windowAudio } from './window-plan.js';

/** The parts of transformers.js's Whisper objects this module relies on. */
interface WhisperParts {
  model: {
    forward_params: string[];
    sessions: Record<string, { run(feeds: Record<string, unknown>): Promise<Record<string, unknown>> }>;
    generation_config: {
      decoder_start_token_id: number;
      /** <|endoftext|>: the first special token; every text token has a smaller id. */
      eos_token_id: number;
      is_multilingual?: boolean;
      lang_to_id?: Record<string, number>;
    };
    config: { max_source_positions: number };
    forward(inputs: Record<string, unknown>): Promise<{ logits: Tensor }>;
    generate(inputs: Record<string, unknown>): Promise<Tensor>;
  };
  featureExtractor: {
    (audio: Float32Array): Promise<{ input_features: Tensor }>;
    config: { sampling_rate: number; chunk_length: number; hop_length: number };
  };
  tokenizer: {
    _decode_asr(
      chunks: { tokens: bigint[]; stride: number[] }[],
      options: { time_precision: number; return_timestamps: boolean; force_full_sequences: boolean },
    ): [string, { chunks?: { timestamp: [number, number | null]; text: string }[] }];
  };
}

// onnxruntime hands each output to JS as an ArrayBuffer (a window's encoder states and cross-attention
// keys/values: ~40 MB at base size). V8 collects them only under heap pressure, windows later, so they
// stacked up on the peak. A full collection after each window takes 30–40 ms, against 1–3 s of
// inference per window for base.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

export class WhisperRunner {
  private constructor(
    private readonly parts: WhisperParts,
    readonly loadMs: number,
    /** What the encoder's rewrites did or why they did not apply, for the operator's log. */
    readonly loadNotes: string[],
    /** The window the encoder runs on; `full` unless the encoder could be rewritten for `fit`. */
    private readonly window: WindowSettings,
  ) {}

  static async load(init: WorkerInit): Promise<WhisperRunner> {
    // Workers only ever load from disk: the main thread downloads before spawning them.
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = init.modelsDir;
    const started = performance.now();
    const settings = init.encoder ?? { fusedAttention: false, window: { mode: 'full', minSeconds: 30, marginSeconds: 0 } };
    const wanted = { fuseAttention: settings.fusedAttention, fitWindow: settings.window.mode === 'fit' };
    // Not pipeline(): it loads the tokenizer twice (its own and the processor's), ~20 MB of heap each.
    const loaded = await withRewrittenEncoder(wanted, () => Promise.all([
      AutoTokenizer.from_pretrained(init.modelId),
      AutoFeatureExtractor.from_pretrained(init.modelId),
      AutoModelForSpeechSeq2Seq.from_pretrained(init.modelId, {
        dtype: init.dtype as 'q8' | Record<string, 'q8'>,
        device: 'cpu',
        session_options: {
          intraOpNumThreads: init.threads,
          interOpNumThreads: 1,
          enableCpuMemArena: init.cpuArena,
          enableMemPattern: init.cpuArena,
        },
      }),
    ]));
    const [tokenizer, featureExtractor, model] = loaded.value;
    const parts = { tokenizer, featureExtractor, model } as unknown as WhisperParts;
    // generate() keeps only kwargs named in forward_params, and encoder_outputs is not among them:
    // without this it would run the encoder a second time for every window.
    if (!parts.model.forward_params.includes('encoder_outputs')) parts.model.forward_params.push('encoder_outputs');
    const window: WindowSettings = loaded.fitsWindow ? settings.window : { ...settings.window, mode: 'full' };
    // A rewritten encoder leaves the file's bytes and the new model's (~2 × its size) to the collector.
    collectGarbage();
    return new WhisperRunner(parts, performance.now() - started, loaded.notes, window);
  }

  private get sampleRate(): number {
    return this.parts.featureExtractor.config.sampling_rate;
  }

  /** Encodes the window's first frames only when ASR_WINDOW=fit (see encoder-window.ts). */
  private async encode(features: Tensor, samples: number): Promise<Tensor> {
    const config = this.parts.featureExtractor.config;
    const [, bins, total] = features.dims as [number, number, number];
    const keep = encoderFrames(samples, this.window, { hopLength: config.hop_length, sampleRate: config.sampling_rate, fullFrames: total });
    const input = keep === total ? features : new Tensor('float32', cropFrames(features.data as Float32Array, bins, total, keep), [1, bins, keep]);
    const out = await this.parts.model.sessions.model!.run({ input_features: input.ort_tensor });
    return new Tensor(out.last_hidden_state as Tensor['ort_tensor']);
  }

  /** Whisper's own detection: one decoder step after <|startoftranscript|>, argmax over language tokens. */
  private async detectLanguage(encoded: Tensor): Promise<string | null> {
    const config = this.parts.model.generation_config;
    if (!config.is_multilingual || !config.lang_to_id) return null;
    const start = new Tensor('int64', BigInt64Array.of(BigInt(config.decoder_start_token_id)), [1, 1]);
    const { logits } = await this.parts.model.forward({ encoder_outputs: encoded, decoder_input_ids: start });
    const scores = logits.data as Float32Array;
    const vocab = logits.dims.at(-1)!;
    const offset = scores.length - vocab;
    let best: string | null = null;
    let bestScore = -Infinity;
    for (const [token, id] of Object.entries(config.lang_to_id)) {
      const score = scores[offset + id]!;
      if (score > bestScore) {
        bestScore = score;
        best = token.slice(2, -2);
      }
    }
    return best;
  }

  async transcribe(samples: Float32Array, request: TranscribeRequest, onProgress: (done: number, total: number) => void): Promise<TranscriptionResult> {
    const started = performance.now();
    const sampleRate = this.sampleRate;
    const windows = request.windows ?? fixedWindows(0, samples.length, sampleRate);
    const chunks: { tokens: bigint[]; stride: number[] }[] = [];
    let language = request.language;
    let encoderMs = 0;
    let decoderMs = 0;
    let tokens = 0;

    for (const [index, window] of windows.entries()) {
      const audio = windowAudio(samples, window);
      const { input_features } = await this.parts.featureExtractor(audio);
      const seconds = window.length / sampleRate;

      const encodeStart = performance.now();
      const encoded = await this.encode(input_features, window.length);
      encoderMs += performance.now() - encodeStart;

      const decodeStart = performance.now();
      if (index === 0 && language === null) language = await this.detectLanguage(encoded);
      const budget = request.fixedTokensPerSecond ? fixedTokenBudget(seconds, request.fixedTokensPerSecond) : undefined;
      const output = await this.parts.model.generate({
        inputs: input_features,
        encoder_outputs: encoded,
        ...(language ? { language } : {}),
        ...(this.parts.model.generation_config.is_multilingual ? { task: request.task } : {}),
        return_timestamps: request.timestamps,
        max_new_tokens: budget ?? maxNewTokens(seconds),
        ...(budget ? { min_new_tokens: budget } : {}),
        num_frames: Math.floor(window.length / 160),
      });
      decoderMs += performance.now() - decodeStart;

      const sequence = (output.tolist() as bigint[][])[0]!;
      tokens += sequence.length;
      chunks.push({
        tokens: sequence,
        stride: [window.length, window.strideLeft, window.strideRight].map((n) => n / sampleRate),
      });
      onProgress(index + 1, windows.length);
      collectGarbage();
    }

    const config = this.parts.featureExtractor.config;
    // Only special tokens (an immediate end-of-text, a language token): no text, and _decode_asr
    // would throw on the empty sequence it is left with.
    const firstSpecial = BigInt(this.parts.model.generation_config.eos_token_id);
    const hasText = chunks.some((c) => c.tokens.some((token) => token < firstSpecial));
    const [text, extra] = hasText ? this.parts.tokenizer._decode_asr(chunks, {
      time_precision: config.chunk_length / this.parts.model.config.max_source_positions,
      return_timestamps: request.timestamps,
      force_full_sequences: false,
    }) : ['', {}];
    const segments: Segment[] = (extra.chunks ?? []).map((c) => ({
      start: c.timestamp[0],
      end: c.timestamp[1] ?? samples.length / sampleRate,
      text: c.text.trim(),
    }));
    const memory = process.memoryUsage();
    return {
      text: text.trim(),
      language,
      segments,
      chunks: windows.length,
      tokens,
      inferenceMs: performance.now() - started,
      encoderMs,
      decoderMs,
      workerHeapMb: memory.heapUsed / 2 ** 20,
      workerExternalMb: memory.external / 2 ** 20,
    };
  }
}
