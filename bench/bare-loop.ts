// The baseline of `npm run bench -- --baseline bare`: the same ONNX files, loaded the same way, run by
// the plainest loop onnxruntime allows (encoder, one uncached decoder step, cached steps, argmax),
// with no features, rules, fallback or tokenizer. What the project adds is measured against it.
import { parentPort, workerData } from 'node:worker_threads';
import path from 'node:path';
import { emptyPasts, type OrtTensor } from '../src/asr/decode-loop.js';
import type { ModelDtype } from '../src/asr/protocol.js';
import { loadWhisperModel, makeTensor, type WhisperModel } from '../src/asr/whisper-model.js';

export interface BareInput {
  modelId: string;
  modelsDir: string;
  dtype: ModelDtype;
  threads: number;
  cpuArena: boolean;
}

export interface BareNote {
  encoderMs: number;
  firstStepMs: number;
  /** Mean of the cached steps. */
  cachedStepMs: number;
  /** Decoder time over the tokens it produced, first step included (as the project counts it). */
  decoderMsPerToken: number;
  /** Encoder and decoder: a note's inference with nothing around it. */
  totalMs: number;
}

/** <|startoftranscript|><|en|><|transcribe|><|notimestamps|> of the multilingual vocabulary. */
const PROMPT = [50258, 50259, 50359, 50363];

export class BareLoop {
  private constructor(private readonly model: WhisperModel) {}

  /** The hub's files as they are: the worker's loader with no graph rewritten. */
  static async load(input: BareInput): Promise<BareLoop> {
    const model = await loadWhisperModel(path.join(input.modelsDir, input.modelId), input.dtype, {
      intraOpNumThreads: input.threads,
      interOpNumThreads: 1,
      enableCpuMemArena: input.cpuArena,
      enableMemPattern: input.cpuArena,
    });
    return new BareLoop(model);
  }

  /** One 30-s window decoding `tokens` tokens (end-of-text never stops it, like the bench's fixed budget). */
  async note(tokens: number): Promise<BareNote> {
    const { encoder, decoder } = this.model;
    let started = performance.now();
    const { last_hidden_state: encoded } = await encoder.run({ input_features: makeTensor('float32', new Float32Array(80 * 3000), [1, 80, 3000]) });
    const encoderMs = performance.now() - started;

    const pastNames = decoder.inputNames.filter((n) => n.startsWith('past_key_values.'));
    const feeds: Record<string, OrtTensor> = {
      input_ids: makeTensor('int64', BigInt64Array.from(PROMPT, BigInt), [1, PROMPT.length]),
      encoder_hidden_states: encoded!,
      use_cache_branch: makeTensor('bool', Uint8Array.of(0), [1]),
      ...emptyPasts(decoder, makeTensor),
    };
    started = performance.now();
    let out = await decoder.run(feeds);
    const firstStepMs = performance.now() - started;
    const cross = Object.fromEntries(pastNames.filter((n) => n.includes('.encoder.')).map((n) => [n, out[n.replace('past_key_values', 'present')]!]));

    started = performance.now();
    for (let step = 1; step < tokens; step++) {
      const logits = out.logits!;
      const vocab = logits.dims.at(-1)!;
      const data = logits.data as Float32Array;
      let best = 0;
      for (let i = data.length - vocab, at = 0; i < data.length; i++, at++) if (data[i]! > data[data.length - vocab + best]!) best = at;
      const next: Record<string, OrtTensor> = {
        input_ids: makeTensor('int64', BigInt64Array.of(BigInt(best)), [1, 1]),
        encoder_hidden_states: encoded!,
        use_cache_branch: makeTensor('bool', Uint8Array.of(1), [1]),
        ...cross,
      };
      for (const name of pastNames) if (name.includes('.decoder.')) next[name] = out[name.replace('past_key_values', 'present')]!;
      out = await decoder.run(next);
    }
    const cachedMs = performance.now() - started;
    return {
      encoderMs,
      firstStepMs,
      cachedStepMs: cachedMs / Math.max(1, tokens - 1),
      decoderMsPerToken: (firstStepMs + cachedMs) / tokens,
      totalMs: encoderMs + firstStepMs + cachedMs,
    };
  }
}

/** As a worker thread (workerData: BareInput): answers `{ tokens }` messages with a BareNote each. */
if (parentPort && (workerData as { bareLoop?: boolean } | undefined)?.bareLoop) {
  const port = parentPort;
  const loop = await BareLoop.load(workerData as BareInput);
  port.postMessage({ ready: true });
  port.on('message', async ({ tokens }: { tokens: number }) => port.postMessage(await loop.note(tokens)));
}
