// npm run synth -- --preset <name> --out <dir> [--dtype q8,int8,fp32] [--seed N]
import { parseArgs } from 'node:util';
import { DTYPES, PRESETS, synthesizeModel, type Dtype, type Preset } from './model-folder.js';

const usage = `Usage: npm run synth -- --preset <${PRESETS.join('|')}> --out <dir> [--dtype ${DTYPES.join(',')}] [--seed N]

Writes a Whisper model folder in the hub's layout with seeded random weights, for tests and
benchmarks on machines that cannot reach the model hub. Production loads the hub's real models.`;

function fail(message: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    preset: { type: 'string' },
    out: { type: 'string' },
    dtype: { type: 'string', default: 'q8' },
    seed: { type: 'string', default: '1' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const preset = values.preset as Preset | undefined;
if (!preset || !PRESETS.includes(preset)) fail(`--preset must be one of ${PRESETS.join(', ')}`);
if (!values.out) fail('--out is required');
const dtypes = values.dtype.split(',') as Dtype[];
for (const d of dtypes) if (!DTYPES.includes(d)) fail(`--dtype: unknown format "${d}"`);
const seed = Number(values.seed);
if (!Number.isInteger(seed)) fail('--seed must be an integer');

const started = performance.now();
const result = await synthesizeModel({ preset, out: values.out, dtypes, seed });
console.log(
  `wrote ${preset} (d_model ${result.dims.dModel}, ${result.dims.encoderLayers}+${result.dims.decoderLayers} layers) ` +
    `to ${values.out} in ${((performance.now() - started) / 1000).toFixed(1)} s:\n  ${result.files.join('\n  ')}`,
);
