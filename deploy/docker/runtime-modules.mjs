#!/usr/bin/env node
// What the production image's node_modules holds: the lockfile's non-dev packages, less what the
// running bot never loads. `prune` deletes the rest (the Dockerfile runs it after
// `npm prune --omit=dev`); `list` prints what would remain and touches nothing, so that a test can
// check the image's contents on a machine without Docker.
//
//   node deploy/docker/runtime-modules.mjs prune|list <app dir with package-lock.json and node_modules>
//
// Plain JavaScript: it runs in the build stage after the dev dependencies (tsx) are gone.
import { lstatSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

/** Installed as dependencies of dependencies, never required by the bot: package name → why. */
function neverLoaded(name) {
  if (name.startsWith('@ffmpeg-installer/')) return 'the image has its own ffmpeg, which findFfmpeg prefers';
  if (name.startsWith('@types/')) return 'type declarations: tsc reads them, Node never does';
  return undefined;
}

function entries(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Paths inside a kept package (relative to it) that this platform's bot never opens. */
function unusedInside(name, dir, platform) {
  switch (name) {
    case 'onnxruntime-node':
      // bin/napi-v<N>/<os>/<arch>: every platform's library, ~300 MB together.
      return entries(path.join(dir, 'bin')).flatMap((napi) =>
        entries(path.join(dir, 'bin', napi)).flatMap((os) =>
          entries(path.join(dir, 'bin', napi, os))
            .filter((arch) => `${os}-${arch}` !== platform)
            .map((arch) => path.join('bin', napi, os, arch)),
        ),
      );
    case 'better-sqlite3':
      // A source build (no prebuilt binary reachable) leaves SQLite's sources and object files.
      return [
        'deps',
        'src',
        ...entries(path.join(dir, 'build')).filter((e) => e !== 'Release').map((e) => path.join('build', e)),
        ...entries(path.join(dir, 'build', 'Release')).filter((e) => e !== 'better_sqlite3.node').map((e) => path.join('build', 'Release', e)),
      ];
    case 'protobufjs':
      // protobufjs 6 ships its pbjs/pbts code generators with their own dependencies (~20 MB).
      return ['cli'];
    case 'fluent-ffmpeg':
      return ['coverage']; // a test-coverage report published with the package
    default:
      return [];
  }
}

function exists(p) {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Files under dir, less the skipped paths (nested packages are listed on their own). */
function filesUnder(dir, skip) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (skip.has(full)) return [];
    return entry.isDirectory() ? filesUnder(full, skip) : [full];
  });
}

function plan(appDir, platform) {
  const lock = JSON.parse(readFileSync(path.join(appDir, 'package-lock.json'), 'utf8'));
  const packageDirs = Object.keys(lock.packages).map((key) => path.join(appDir, key));
  const remove = [];
  const keep = [];
  for (const [key, entry] of Object.entries(lock.packages)) {
    const dir = path.join(appDir, key);
    // "" is the app itself; a missing folder is an optional package for another platform.
    if (!key.startsWith('node_modules/') || !exists(dir)) continue;
    if (remove.some((removed) => key.startsWith(`${removed}/`))) continue; // inside a removed package
    const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    if (entry.dev || neverLoaded(name)) {
      remove.push(key);
      continue;
    }
    const unused = unusedInside(name, dir, platform)
      .map((p) => path.join(key, p))
      .filter((p) => exists(path.join(appDir, p)));
    remove.push(...unused);
    const skip = new Set([...unused.map((p) => path.join(appDir, p)), ...packageDirs.filter((d) => d.startsWith(`${dir}/`))]);
    for (const file of filesUnder(dir, skip)) keep.push({ file: path.relative(appDir, file), bytes: lstatSync(file).size, pkg: key });
  }
  return { remove, keep };
}

const [command, appDir] = process.argv.slice(2);
if (!appDir || (command !== 'prune' && command !== 'list')) {
  process.stderr.write('usage: runtime-modules.mjs prune|list <app dir>\n');
  process.exit(2);
}
const { remove, keep } = plan(path.resolve(appDir), `${process.platform}-${process.arch}`);
if (command === 'list') {
  process.stdout.write(keep.map((f) => `${f.bytes}\t${f.pkg}\t${f.file}\n`).join(''));
} else {
  for (const p of remove) rmSync(path.join(appDir, p), { recursive: true, force: true });
  const mb = keep.reduce((sum, f) => sum + f.bytes, 0) / 2 ** 20;
  process.stdout.write(`runtime node_modules: removed ${remove.length} paths, kept ${keep.length} files, ${mb.toFixed(0)} MB\n`);
}
