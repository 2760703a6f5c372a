// glibc's settings in the image, read from the Dockerfile's ENV so that the bench measures what the
// image runs (one heap for every thread, buffers of 1 MiB or more mapped alone, the rest kept for reuse).

/** The `MALLOC_*=value` pairs that the Dockerfile's ENV instructions set (comments skipped). */
export function imageMalloc(dockerfile: string): Record<string, string> {
  const instructions = dockerfile.replace(/\\\n/g, ' ').split('\n').filter((line) => /^\s*ENV\s/.test(line));
  const settings = Object.fromEntries(instructions.flatMap((line) => [...line.matchAll(/\b(MALLOC_[A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!])));
  if (Object.keys(settings).length === 0) throw new Error('the Dockerfile sets no MALLOC_* in an ENV instruction: the bench cannot measure the image\'s memory profile');
  return settings;
}
