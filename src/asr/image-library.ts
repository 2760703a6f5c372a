// transformers.js requires sharp (libvips) at the top of its bundle for its image pipelines, and
// fails to load without it. The ASR worker never touches an image, and libvips cost each worker
// ~10 MB of RSS (its library's pages and its start-up allocations). The worker therefore loads
// transformers.js's CommonJS build with a stand-in already in the module cache where sharp would
// be: a function that fails plainly if anything ever asks it for an image. (A module-resolution
// hook would do the same for the ESM build, but Node 20 runs hooks on a thread of their own, which
// cost as much as libvips.) The module cache is per thread: only the thread that calls this is
// affected.
import Module, { createRequire } from 'node:module';

const IMAGE_LIBRARY_LEFT_OUT = 'voicebot: the ASR worker does not load the image library (sharp); transformers.js image pipelines are not available here';

type Transformers = typeof import('@huggingface/transformers');

const requireHere = createRequire(import.meta.url);

/** transformers.js, loaded without sharp. */
export function transformersWithoutImages(): Transformers {
  const transformers = requireHere.resolve('@huggingface/transformers');
  const imageLibrary = createRequire(transformers).resolve('sharp');
  if (!requireHere.cache[imageLibrary]) {
    const standIn = new Module(imageLibrary);
    standIn.filename = imageLibrary;
    standIn.loaded = true;
    standIn.exports = (): never => {
      throw new Error(IMAGE_LIBRARY_LEFT_OUT);
    };
    requireHere.cache[imageLibrary] = standIn;
  }
  return requireHere(transformers) as Transformers;
}
