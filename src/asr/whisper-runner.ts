// Runs Whisper on the hub's model files (whisper-model.ts loads them, as transformers.js would), with
// the token text read from its tokenizer files (token-text.ts), on a worker thread only. The window
// loop is here (what audio each window covers, the text carried to the next, progress); each
// window's decode is decode-loop.ts, the windows' merge window-merge.ts.
import vm from 'node:vm';
import v8 from 'node:v8';
import path from 'node:path';
import type { PcmReader } from '../audio/pcm-file.js';
import { WindowDecoder, type CrossAttention, type OrtTensor } from './decode-loop.js';
import { fixedTokenBudget, maxNewTokens } from './decoding-policy.js';
import { cropFrames, encoderFrames, type WindowSettings } from './encoder-window.js';
import { FALLBACK_TEMPERATURES, mayConditionNext, previousTextPrompt, WHISPER_THRESHOLDS } from './fallback.js';
import { RewrittenSessions } from './graph-rewrite/rewritten-sessions.js';
import { hannWindow, LogMelSpectrogram, whisperMelFilters } from './log-mel.js';
import { countRuns } from './native-runs.js';
import type { WhisperVocabulary } from './logits-rules.js';
import type { DecodingOptions, Segment, TranscribeRequest, TranscriptionResult, WindowRecord, WorkerInit } from './protocol.js';
import { TokenText } from './token-text.js';
import { loadWhisperModel, makeTensor, type GenerationConfig, type WhisperModel, type WholeRunSession } from './whisper-model.js';
import { mergeWindows, type WindowTokens } from './window-merge.js';
import { fixedWindows } from './window-plan.js';

const DEFAULT_DECODING: DecodingOptions = { beamSize: 1, temperatureFallback: true, bestOf: 5, conditionOnPreviousText: false };

/** The token ids Whisper's rules need, from the model's generation config and tokenizer files. */
export function readVocabulary(config: GenerationConfig, tokenText: TokenText): WhisperVocabulary {
  const id = (token: string) => tokenText.addedTokenId(token);
  return {
    endOfText: config.eos_token_id,
    startOfTranscript: config.decoder_start_token_id,
    startOfPrevious: id('<|startofprev|>'),
    noTimestamps: config.no_timestamps_token_id,
    timestampBegin: config.no_timestamps_token_id + 1,
    noSpeech: id('<|nospeech|>') ?? id('<|nocaptions|>'),
    languages: new Map(config.is_multilingual ? Object.entries(config.lang_to_id ?? {}).map(([token, tokenId]) => [token.slice(2, -2), tokenId]) : []),
    tasks: { transcribe: config.task_to_id?.transcribe, translate: config.task_to_id?.translate },
    suppress: config.suppress_tokens ?? [],
    beginSuppress: config.begin_suppress_tokens ?? [],
    maxInitialTimestampIndex: config.max_initial_timestamp_index ?? null,
  };
}

// onnxruntime hands each output to JS as an ArrayBuffer (a window's encoder states and cross-attention
// keys/values: ~40 MB at base size). V8 collects them only under heap pressure, windows later, so they
// stacked up on the peak. A full collection after each window takes 30–40 ms, against 1–3 s of
// inference per window for base.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

/**
 * [key 0, value 0, key 1, ...] from one session per layer, one after another: what onnxruntime
 * holds besides the JS copies is then one layer's keys and values. Two layers at a time, one thread
 * each, were no faster (small: ~120 ms a window either way).
 */
function layerByLayer(sessions: WholeRunSession[]): CrossAttention {
  return async (encoded) => {
    const pasts: OrtTensor[] = [];
    for (const [layer, session] of sessions.entries()) {
      const out = await session.run({ encoder_hidden_states: encoded });
      pasts.push(out[`present.${layer}.encoder.key`]!, out[`present.${layer}.encoder.value`]!);
    }
    return pasts;
  };
}

export class WhisperRunner {
  private readonly decoder: WindowDecoder;
  private readonly logMel: LogMelSpectrogram;
  private readonly vocabulary: WhisperVocabulary;

  private constructor(
    private readonly model: WhisperModel,
    private readonly tokenText: TokenText,
    private readonly defaults: DecodingOptions,
    readonly loadMs: number,
    /** What the encoder's rewrites did or why they did not apply, for the operator's log. */
    readonly loadNotes: string[],
    /** The window the encoder runs on; `full` unless the encoder could be rewritten for `fit`. */
    private readonly window: WindowSettings,
    crossAttention: CrossAttention | null,
  ) {
    const features = model.features;
    this.logMel = new LogMelSpectrogram({
      window: hannWindow(features.n_fft),
      melFilters: features.mel_filters ?? whisperMelFilters(features.n_fft, features.feature_size, features.sampling_rate),
      hopLength: features.hop_length,
      samples: features.n_samples,
      frames: features.nb_max_frames,
    });
    // The first window should not pay for compiling the FFT.
    this.logMel.compute(Float32Array.from({ length: features.sampling_rate }, (_, i) => Math.sin(i)));
    this.vocabulary = readVocabulary(model.generation, tokenText);
    this.decoder = new WindowDecoder(model.decoder, this.vocabulary, makeTensor, (tokens) => tokenText.decode(tokens, { skipSpecial: true }), { crossAttention });
  }

  static async load(init: WorkerInit): Promise<WhisperRunner> {
    const started = performance.now();
    const settings = init.encoder ?? { fusedAttention: false, window: { mode: 'full', minSeconds: 30, marginSeconds: 0 } };
    const wanted = {
      fuseAttention: settings.fusedAttention,
      fitWindow: settings.window.mode === 'fit',
      mapWeights: init.mapWeights ?? false,
      crossAttentionApart: init.crossAttentionApart ?? false,
    };
    // Workers only ever load from disk: the main thread downloads before spawning them.
    const folder = path.join(init.modelsDir, init.modelId);
    const sessions = new RewrittenSessions(wanted, collectGarbage);
    const [tokenText, model] = await Promise.all([
      TokenText.load(folder),
      loadWhisperModel(
        folder,
        init.dtype,
        { intraOpNumThreads: init.threads, interOpNumThreads: 1, enableCpuMemArena: init.cpuArena, enableMemPattern: init.cpuArena },
        (file, options) => sessions.create(file, options),
      ),
    ]);
    const loaded = sessions.load;
    const crossAttentionSessions = loaded.crossAttention as WholeRunSession[] | null;
    countRuns(model.encoder);
    countRuns(model.decoder);
    for (const session of crossAttentionSessions ?? []) countRuns(session);
    const window: WindowSettings = loaded.fitsWindow ? settings.window : { ...settings.window, mode: 'full' };
    // Preparing each file's graph leaves the file's bytes and the new graph's to the collector.
    collectGarbage();
    const crossAttention = crossAttentionSessions ? layerByLayer(crossAttentionSessions) : null;
    return new WhisperRunner(model, tokenText, { ...DEFAULT_DECODING, ...init.decoding }, performance.now() - started, loaded.notes, window, crossAttention);
  }

  get sampleRate(): number {
    return this.model.features.sampling_rate;
  }

  /** Log-mel features of a window, cut to the encoder's frames when ASR_WINDOW=fit (see encoder-window.ts). */
  private features(audio: Float32Array, samples: number): OrtTensor {
    const config = this.model.features;
    const { feature_size: bins, nb_max_frames: total } = config;
    const keep = encoderFrames(samples, this.window, { hopLength: config.hop_length, sampleRate: config.sampling_rate, fullFrames: total });
    return makeTensor('float32', cropFrames(this.logMel.compute(audio), bins, total, keep), [1, bins, keep]);
  }

  async transcribe(pcm: PcmReader, request: TranscribeRequest, onProgress: (done: number, total: number) => void): Promise<TranscriptionResult> {
    const started = performance.now();
    const options = { ...this.defaults, ...request.decoding };
    const sampleRate = this.sampleRate;
    const windows = request.windows ?? fixedWindows(0, pcm.length, sampleRate);
    const decodedWindows: WindowTokens[] = [];
    const records: WindowRecord[] = [];
    let language = request.language;
    let encoderMs = 0;
    let decoderMs = 0;
    let tokens = 0;
    let decoderRuns = 0;
    let fallbacks = 0;
    let previousTokens: number[] = [];

    for (const [index, window] of windows.entries()) {
      const audio = pcm.floats(window.pieces);
      const features = this.features(audio, window.length);
      const seconds = window.length / sampleRate;

      const encodeStart = performance.now();
      const encoded = await this.model.encoder.run({ input_features: features });
      encoderMs += performance.now() - encodeStart;

      const decodeStart = performance.now();
      const budget = request.fixedTokensPerSecond ? fixedTokenBudget(seconds, request.fixedTokensPerSecond) : undefined;
      const positions = this.model.positions.target;
      const prompt = options.conditionOnPreviousText ? previousTextPrompt(previousTokens, positions) : [];
      // The decoder has 448 positions for the previous text, <|startofprev|>, the forced prompt (≤ 4) and the new tokens.
      const room = positions - (prompt.length > 0 ? prompt.length + 1 : 0) - 4;
      const decoded = await this.decoder.decodeWindow(encoded.last_hidden_state!, {
        language,
        task: request.task,
        timestamps: request.timestamps,
        maxTokens: Math.min(room, budget ?? maxNewTokens(seconds)),
        minTokens: Math.min(room, budget ?? 0),
        previousTokens: prompt,
        beamSize: options.beamSize,
        bestOf: options.bestOf,
        patience: 1,
        temperatures: options.temperatureFallback ? FALLBACK_TEMPERATURES : [0],
        thresholds: WHISPER_THRESHOLDS,
      });
      decoderMs += performance.now() - decodeStart;
      // Whisper detects the language on the first window only; the rest are decoded in it.
      if (index === 0 && language === null) language = decoded.language;
      previousTokens = mayConditionNext(decoded.temperature) ? decoded.textTokens : [];
      tokens += decoded.sampledCount;
      decoderRuns += decoded.decoderRuns;
      fallbacks += decoded.fallbacks;
      records.push({
        temperature: decoded.temperature,
        compressionRatio: decoded.compressionRatio,
        avgLogprob: decoded.avgLogprob,
        noSpeechProb: decoded.noSpeechProb,
        silence: decoded.silence,
      });
      decodedWindows.push({
        tokens: decoded.tokens,
        length: window.length / sampleRate,
        overlapLeft: window.strideLeft / sampleRate,
        overlapRight: window.strideRight / sampleRate,
      });
      onProgress(index + 1, windows.length);
      collectGarbage();
    }

    const merged = mergeWindows(decodedWindows, this.vocabulary, this.tokenText, {
      timePrecision: this.model.features.chunk_length / this.model.positions.source,
      timestamps: request.timestamps,
    });
    // Text after the last closing timestamp (a window cut off mid-segment) runs from where the
    // previous segment ended to the end of the note.
    const segments: Segment[] = [];
    for (const s of merged.segments) {
      const start = s.start ?? segments.at(-1)?.end ?? 0;
      segments.push({ start, end: s.end ?? pcm.length / sampleRate, text: s.text.trim() });
    }
    const memory = process.memoryUsage();
    return {
      text: merged.text.trim(),
      language,
      segments,
      chunks: windows.length,
      tokens,
      inferenceMs: performance.now() - started,
      encoderMs,
      decoderMs,
      decoderRuns,
      windows: records,
      fallbacks,
      workerHeapMb: memory.heapUsed / 2 ** 20,
      workerExternalMb: memory.external / 2 ** 20,
    };
  }
}
