// npm run models:pull -- <tiny|base|small|medium|org/name>: download a model into MODELS_DIR ahead of time.
import { MODEL_DTYPE } from '../asr/catalog.js';
import { ensureModel } from '../asr/model-store.js';
import { ConfigError, loadConfig } from '../config.js';
import { memoryLimitMb, vcpus } from '../machine.js';

const wanted = process.argv[2];
if (!wanted || wanted === '--help') {
  console.error('Usage: npm run models:pull -- <tiny|base|small|medium|auto|org/name>\nDownloads into MODELS_DIR (default ./models) from MODEL_HUB_URL.');
  process.exit(wanted ? 0 : 2);
}
try {
  const config = loadConfig({ ...process.env, WHISPER_MODEL: wanted }, { vcpus: vcpus(), memoryMb: memoryLimitMb() }, { requireToken: false });
  console.log(`${config.modelId} (${config.modelReason}) → ${config.modelsDir}`);
  const fetched = await ensureModel({
    modelId: config.modelId,
    modelsDir: config.modelsDir,
    hubUrl: config.modelHubUrl,
    dtype: MODEL_DTYPE,
    onFile: (file, bytes, ms) => console.log(`  ${file}: ${(bytes / 2 ** 20).toFixed(1)} MB in ${(ms / 1000).toFixed(1)} s`),
  });
  console.log(fetched.length ? `downloaded ${fetched.length} file(s)` : 'already present: nothing to download');
} catch (error) {
  console.error(error instanceof ConfigError ? `invalid configuration: ${error.message}` : (error as Error).message);
  process.exit(1);
}
