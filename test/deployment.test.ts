// The Dockerfile, the production compose file and the image's entrypoint and node_modules keep the
// properties the incidents taught us.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { imageMalloc } from '../bench/image-malloc.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/storage/database.js';
import { REPO } from './support/test-model.js';

const read = (file: string) => readFileSync(path.join(REPO, file), 'utf8');
const dockerfile = read('Dockerfile');
const compose = parse(read('docker-compose.prod.yml')) as Record<string, any>;
const bot = compose.services.voicebot;

/** Every variable config.ts reads. */
const configVariables = [
  ...[...read('src/config.ts').matchAll(/r\.(?:raw|string|integer|decimal|optionalInteger|boolean|url)\('([A-Z_]+)'/g)].map((m) => m[1]!),
  // glibc's variables, read in a loop over their table.
  ...[...read('src/config.ts').matchAll(/name: '(MALLOC_[A-Z_]+)'/g)].map((m) => m[1]!),
];

/** The Dockerfile's stages: name, base image or stage, and the instructions until the next FROM. */
const stages = dockerfile
  .split(/^(?=FROM )/m)
  .filter((part) => part.startsWith('FROM '))
  .map((part) => {
    const [, base, name] = /^FROM (\S+) AS (\S+)/.exec(part)!;
    return { name: name!, base: base!, body: part };
  });
const stage = (name: string) => stages.find((s) => s.name === name)!;
/** A stage's instructions with those of the stages it is built FROM. */
const lineage = (name: string): string => {
  const s = stage(name);
  return stages.some((p) => p.name === s.base) ? lineage(s.base) + s.body : s.body;
};

describe('Dockerfile', () => {
  it('installs dependencies once, where the build tools are, and prunes them for the runtime', () => {
    expect(dockerfile.match(/npm ci\b/g)).toHaveLength(1);
    const installing = stages.find((s) => /npm ci\b/.test(s.body))!;
    // better-sqlite3 compiles from source when its prebuilt binary cannot be downloaded.
    expect(installing.body).toMatch(/apt-get install[^\n]*python3 make g\+\+[\s\S]*npm ci/);
    // ...against the image's own Node headers: node-gyp would download them from nodejs.org.
    expect(installing.body).toMatch(/ENV npm_config_nodedir=\/usr\/local[\s\S]*npm ci/);
    const runtime = stage('runtime');
    expect(runtime.base).toMatch(/^node:20-bookworm-slim$/);
    const from = /COPY --from=(\S+) \/app\/node_modules/.exec(runtime.body)![1]!;
    expect(lineage(from)).toMatch(/npm ci[\s\S]*npm prune --omit=dev[\s\S]*runtime-modules\.mjs prune/);
    expect(runtime.body).not.toMatch(/python3|g\+\+|build-essential/);
  });

  it("runs its own lean ffmpeg, not Debian's full one", () => {
    const runtime = stage('runtime');
    expect(runtime.body).not.toMatch(/apt-get install[^\n]*\bffmpeg\b/);
    expect(runtime.body).toMatch(/COPY --from=ffmpeg \/opt\/ffmpeg\/ \/usr\/local\//);
    expect(stage('ffmpeg').body).toMatch(/build-ffmpeg\.sh \/opt\/ffmpeg/);
    // What the bot asks of it (src/audio/ffmpeg.ts): float PCM out, through aresample.
    const script = read('deploy/docker/build-ffmpeg.sh');
    expect(script).toMatch(/--disable-everything/);
    for (const part of ['--enable-encoder=pcm_f32le', '--enable-muxer=pcm_f32le', 'aresample', 'opus', 'vorbis', 'aac', 'mp3', 'matroska', 'mov', 'ogg']) {
      expect(script, part).toContain(part);
    }
  });

  it('starts under tini, through the entrypoint that drops to the bot user, in production mode, with a liveness check', () => {
    const runtime = stage('runtime');
    expect(runtime.body).toMatch(/ENTRYPOINT \["\/usr\/bin\/tini", "--", "voicebot-entrypoint"\]/);
    expect(runtime.body).toMatch(/COPY deploy\/docker\/entrypoint\.sh \/usr\/local\/bin\/voicebot-entrypoint/);
    expect(read('deploy/docker/entrypoint.sh')).toMatch(/exec setpriv --reuid="\$BOT_UID"/);
    expect(runtime.body).toMatch(/NODE_ENV=production/);
    expect(runtime.body).toMatch(/HEALTHCHECK[\s\S]*\/healthz/);
    expect(runtime.body).toMatch(/ARG PREPULL_MODEL/);
  });

  it('sets the default memory profile\'s malloc settings, values the bot accepts and logs', () => {
    const runtime = stage('runtime');
    const image = Object.fromEntries([...runtime.body.matchAll(/(MALLOC_[A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
    expect(Object.keys(image).sort()).toEqual(['MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_']);
    expect(loadConfig({ BOT_TOKEN: '1:abc', ...image }, { vcpus: 1, memoryMb: 1024 }).malloc).toEqual({
      arenaMax: Number(image.MALLOC_ARENA_MAX),
      mmapThreshold: Number(image.MALLOC_MMAP_THRESHOLD_),
      trimThreshold: Number(image.MALLOC_TRIM_THRESHOLD_),
    });
    // The bench's default profile is read from here: what it measures is what the image runs.
    expect(imageMalloc(dockerfile)).toEqual(image);
    expect(() => imageMalloc('FROM node:20\n# MALLOC_ARENA_MAX=1\nRUN echo MALLOC_ARENA_MAX=1\n')).toThrow(/sets no MALLOC_/);
  });

  it('has no watcher or reload flag anywhere in production paths', () => {
    const production = [dockerfile, read('docker-compose.prod.yml'), JSON.stringify(JSON.parse(read('package.json')).scripts.start)].join('\n');
    expect(production).not.toMatch(/--watch|--reload|nodemon|tsx watch/);
  });
});

describe('docker-compose.prod.yml', () => {
  it('has no obsolete version key', () => {
    expect(compose).not.toHaveProperty('version');
  });

  it('sets explicit, overridable DNS with public fallbacks', () => {
    expect(bot.dns.length).toBeGreaterThanOrEqual(2);
    for (const entry of bot.dns) expect(entry).toMatch(/^\$\{DNS_[A-Z_0-9]+:-[\d.]+\}$/);
  });

  it('limits memory, swap, CPUs and pids, and restarts unless stopped', () => {
    expect(bot.mem_limit).toMatch(/MEM_LIMIT/);
    expect(bot.memswap_limit).toMatch(/MEMSWAP_LIMIT/);
    expect(bot.cpus).toMatch(/CPUS/);
    expect(bot.pids_limit).toBeGreaterThan(0);
    expect(bot.restart).toBe('unless-stopped');
  });

  it('builds the runtime stage and keeps the image\'s single init and health check', () => {
    expect(bot.build.target).toBe('runtime');
    expect(bot).not.toHaveProperty('init');
    expect(bot).not.toHaveProperty('healthcheck');
  });

  it('waits longer on stop than the bot drains, with rotated logs', () => {
    const grace = Number(/(\d+)s/.exec(bot.stop_grace_period)![1]);
    const drain = Number(/SHUTDOWN_GRACE_SECONDS:-(\d+)/.exec(bot.environment.SHUTDOWN_GRACE_SECONDS)![1]);
    expect(grace).toBeGreaterThan(drain);
    expect(bot.logging).toMatchObject({ driver: 'json-file', options: { 'max-size': expect.any(String), 'max-file': expect.any(String) } });
  });

  it('keeps data and models on volumes and reads .env', () => {
    expect(bot.volumes).toEqual(expect.arrayContaining(['./data:/app/data', './models:/app/models']));
    expect(bot.env_file).toBe('.env');
  });

  it('has a profile for the local Bot API server', () => {
    expect(compose.services['telegram-bot-api'].profiles).toContain('local-bot-api');
  });

  const dockerEngine = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!dockerEngine)('passes `docker compose config` (needs a Docker engine)', () => {
    execFileSync('docker', ['compose', '-f', 'docker-compose.prod.yml', '--env-file', '.env.example', 'config', '--quiet'], { cwd: REPO });
  });
});

describe('docker-compose.scale.yml', () => {
  // Compose applies YAML merge keys (`<<: *voicebot`); the yaml package does so only when asked.
  const scale = parse(read('docker-compose.scale.yml'), { merge: true }) as Record<string, any>;
  const { redis, voicebot, worker } = scale.services;

  it('runs Redis with AOF, noeviction and a required password, on the compose network only', () => {
    expect(redis.image).toBe('redis:7');
    const command = (redis.command as string[]).join(' ');
    expect(command).toMatch(/--appendonly yes/);
    expect(command).toMatch(/--maxmemory-policy noeviction/);
    expect(command).toMatch(/--requirepass \$\{REDIS_PASSWORD:\?/);
    expect(redis).not.toHaveProperty('ports');
    expect(redis.volumes).toEqual(['redis-data:/data']);
  });

  it('runs the bot and scalable workers from the production image, both on the queue', () => {
    for (const service of [voicebot, worker]) {
      expect(service.build.target).toBe('runtime');
      expect(service.image).toBe(bot.image);
      expect(service.environment.QUEUE_URL).toBe('redis://:${REDIS_PASSWORD}@redis:6379/0');
      expect(service.depends_on.redis.condition).toBe('service_healthy');
      expect(service.restart).toBe('unless-stopped');
    }
    expect([voicebot.environment.ROLE, worker.environment.ROLE]).toEqual(['bot', 'worker']);
    // --scale worker=N: nothing that must be unique per container.
    expect(worker).not.toHaveProperty('ports');
    expect(worker).not.toHaveProperty('container_name');
    expect(voicebot.volumes).toContain('./data:/app/data');
    expect(worker.volumes).toContain('./models:/app/models');
  });

  it('lets workers finish their jobs on stop', () => {
    const grace = Number(/(\d+)s/.exec(worker.stop_grace_period)![1]);
    const drain = Number(/SHUTDOWN_GRACE_SECONDS:-(\d+)/.exec(worker.environment.SHUTDOWN_GRACE_SECONDS)![1]);
    expect(grace).toBeGreaterThan(drain);
  });
});

describe('documentation', () => {
  it('lists every configuration variable in .env.example and README', () => {
    expect(configVariables.length).toBeGreaterThan(20);
    const example = read('.env.example');
    const readme = read('README.md');
    for (const name of configVariables) {
      expect(example, name).toMatch(new RegExp(`^#?${name}=`, 'm'));
      expect(readme, name).toContain(`\`${name}\``);
    }
  });
});

describe('entrypoint (deploy/docker/entrypoint.sh)', () => {
  const entrypoint = path.join(REPO, 'deploy/docker/entrypoint.sh');
  const asRoot = process.getuid?.() === 0;

  // As on a fresh VPS: a root-owned clone, ./data with a root-owned database and a symlink out of it,
  // ./models already the bot's, and ./models missing in a second run.
  it.skipIf(!asRoot)('as root: hands DATA_DIR and MODELS_DIR to uid 1000 and nothing else, then runs the command as 1000 in its own PID', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'voicebot-entrypoint-'));
    try {
      chmodSync(root, 0o755); // the bot's user must be able to reach the folders
      const data = path.join(root, 'data');
      mkdirSync(path.join(data, 'old'), { recursive: true, mode: 0o755 });
      writeFileSync(path.join(data, 'old', 'voicebot.sqlite'), 'db');
      const outside = path.join(root, 'not-the-bots.txt');
      writeFileSync(outside, 'root');
      symlinkSync(outside, path.join(data, 'link-out'));
      const models = path.join(root, 'models');
      mkdirSync(path.join(models, 'org', 'name'), { recursive: true });
      writeFileSync(path.join(models, 'org', 'name', 'config.json'), '{}');
      for (const p of [models, path.join(models, 'org'), path.join(models, 'org', 'name'), path.join(models, 'org', 'name', 'config.json')]) {
        chownSync(p, 1000, 1000);
      }
      const modelsCtime = statSync(path.join(models, 'org', 'name', 'config.json')).ctimeMs;
      const untouched = [root, outside].map((p) => [p, statSync(p).ctimeMs] as const);

      const probe = `const fs = require('node:fs');
        fs.writeFileSync(process.env.DATA_DIR + '/voicebot.sqlite', 'new');
        fs.appendFileSync(process.env.DATA_DIR + '/old/voicebot.sqlite', '+');
        fs.writeFileSync(process.env.MODELS_DIR + '/org/name/model.onnx', 'x');
        console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), pid: process.pid }));`;
      const run = spawnSync('sh', [entrypoint, process.execPath, '-e', probe], {
        cwd: root,
        env: { PATH: process.env.PATH, DATA_DIR: data, MODELS_DIR: models },
        encoding: 'utf8',
      });
      expect(run.status, run.stderr).toBe(0);
      const seen = JSON.parse(run.stdout) as { uid: number; gid: number; groups: number[]; pid: number };
      expect(seen).toMatchObject({ uid: 1000, gid: 1000 });
      expect(seen.groups).not.toContain(0);
      // exec all the way down: Node is the entrypoint's own process, so tini's SIGTERM reaches it.
      expect(seen.pid).toBe(run.pid);
      expect(run.stderr).toMatch(/"msg":"entrypoint: DATA_DIR=[^"]*: entries not the bot's: 4, now owned by 1000:1000"/);
      expect(run.stderr).not.toMatch(/MODELS_DIR/);

      for (const p of [data, path.join(data, 'old'), path.join(data, 'old', 'voicebot.sqlite')]) expect(statSync(p).uid, p).toBe(1000);
      expect(lstatSync(path.join(data, 'link-out')).uid).toBe(1000);
      // Already the bot's: not chowned again (a chown, even to the same owner, changes ctime).
      expect(statSync(path.join(models, 'org', 'name', 'config.json')).ctimeMs).toBe(modelsCtime);
      for (const [p, ctime] of untouched) {
        expect(statSync(p).uid, p).toBe(0);
        expect(statSync(p).ctimeMs, p).toBe(ctime);
      }

      // Relative defaults, as config.ts resolves them; a missing MODELS_DIR is created for the bot.
      rmSync(models, { recursive: true });
      const second = spawnSync('sh', [entrypoint, process.execPath, '-e', 'require("node:fs").writeFileSync("models/probe", "x")'], {
        cwd: root,
        env: { PATH: process.env.PATH },
        encoding: 'utf8',
      });
      expect(second.status, second.stderr).toBe(0);
      expect(statSync(models).uid).toBe(1000);
      expect(second.stderr).not.toMatch(/DATA_DIR/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('started as another user, runs the command unchanged', () => {
    const run = spawnSync('sh', [entrypoint, process.execPath, '-e', 'console.log(process.getuid())'], {
      env: { PATH: process.env.PATH, DATA_DIR: '/nonexistent/data', MODELS_DIR: '/nonexistent/models' },
      encoding: 'utf8',
      ...(asRoot ? { uid: 1000, gid: 1000, cwd: '/' } : {}),
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe(String(asRoot ? 1000 : process.getuid?.()));
    expect(run.stderr).toBe('');
  });
});

describe('the storage error an operator sees for an unusable DATA_DIR', () => {
  it('names the folder and the system error once', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'voicebot-datadir-'));
    try {
      writeFileSync(path.join(root, 'data'), 'a file where the folder should be');
      expect(() => openDatabase(path.join(root, 'data', 'voicebot.sqlite'))).toThrow(
        new RegExp(`the database directory ${root}/data cannot be created or written \\(EEXIST: file already exists, mkdir '${root}/data'\\)`),
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("the runtime image's node_modules (deploy/docker/runtime-modules.mjs)", () => {
  const script = path.join(REPO, 'deploy/docker/runtime-modules.mjs');
  const list = (appDir: string) =>
    execFileSync(process.execPath, [script, 'list', appDir], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [bytes, pkg, file] = line.split('\t');
        return { bytes: Number(bytes), pkg: pkg!, file: file! };
      });
  const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { os?: string[]; cpu?: string[]; libc?: string[] }> };
  const glibc = Boolean((process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime);
  const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183 };

  /** What kind of native binary a file is, from its first bytes: undefined for anything else. */
  function binaryKind(file: string): string | undefined {
    const head = Buffer.alloc(20);
    const fd = openSync(file, 'r');
    const n = readSync(fd, head, 0, 20, 0);
    closeSync(fd);
    if (n < 20) return undefined;
    if (head.readUInt32BE(0) === 0x7f454c46) return `elf-${head.readUInt16LE(18)}`;
    if ([0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe].includes(head.readUInt32BE(0))) return 'mach-o';
    if (head.toString('latin1', 0, 2) === 'MZ') return 'pe';
    return undefined;
  }

  it("holds this platform's production packages only, no other platform's binaries, within its size budget", () => {
    const kept = list(REPO);
    const packages = new Set(kept.map((f) => f.pkg));
    const name = (key: string) => key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const names = new Set([...packages].map(name));

    for (const dev of Object.keys(JSON.parse(read('package.json')).devDependencies)) expect(names.has(dev), dev).toBe(false);
    // Installed, never loaded: the image has its ffmpeg; type declarations (some are optional peers
    // of production packages) are for tsc.
    expect([...names].filter((n) => /^@(ffmpeg-installer|types)\//.test(n))).toEqual([]);
    for (const key of packages) {
      const { os, cpu, libc } = lock.packages[key] ?? {};
      if (os) expect(os, key).toContain(process.platform);
      if (cpu) expect(cpu, key).toContain(process.arch);
      if (libc) expect(libc, key).toContain(glibc ? 'glibc' : 'musl');
    }

    const binaries = kept.map((f) => ({ file: f.file, kind: binaryKind(path.join(REPO, f.file)) })).filter((b) => b.kind);
    const native = `elf-${ELF_MACHINE[process.arch]}`;
    expect(binaries.filter((b) => b.kind !== native || /\.(dll|dylib|exe)$/.test(b.file))).toEqual([]);
    // ...and the ones the bot loads are all there.
    const files = binaries.map((b) => b.file).join('\n');
    expect(files).toMatch(new RegExp(`onnxruntime-node/bin/napi-v\\d+/${process.platform}/${process.arch}/onnxruntime_binding\\.node`));
    expect(files).toMatch(/better-sqlite3\/build\/Release\/better_sqlite3\.node/);

    // Most of the image's ≤ 500 MB over node:20-bookworm-slim (measured: README, Deployment).
    const mb = kept.reduce((sum, f) => sum + f.bytes, 0) / 2 ** 20;
    expect(mb).toBeLessThan(200);
  });

  it('prune leaves exactly what list shows', () => {
    const app = mkdtempSync(path.join(tmpdir(), 'voicebot-runtime-modules-'));
    try {
      const here = `${process.platform}/${process.arch}`;
      const files = [
        'node_modules/grammy/out/mod.js',
        `node_modules/onnxruntime-node/bin/napi-v6/${here}/onnxruntime_binding.node`,
        'node_modules/onnxruntime-node/bin/napi-v6/win32/x64/onnxruntime_binding.node',
        'node_modules/onnxruntime-node/bin/napi-v6/darwin/arm64/libonnxruntime.dylib',
        'node_modules/onnxruntime-node/dist/index.js',
        'node_modules/@ffmpeg-installer/ffmpeg/index.js',
        'node_modules/@ffmpeg-installer/ffmpeg/node_modules/@ffmpeg-installer/linux-x64/ffmpeg',
        'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
        'node_modules/better-sqlite3/build/Release/obj.target/sqlite3.o',
        'node_modules/better-sqlite3/deps/sqlite3/sqlite3.c',
        'node_modules/better-sqlite3/lib/index.js',
        'node_modules/typescript/lib/tsc.js',
        'node_modules/a/node_modules/b/index.js',
        'node_modules/a/index.js',
      ];
      for (const f of files) {
        mkdirSync(path.dirname(path.join(app, f)), { recursive: true });
        writeFileSync(path.join(app, f), f);
      }
      const packages = ['grammy', 'onnxruntime-node', '@ffmpeg-installer/ffmpeg', '@ffmpeg-installer/ffmpeg/node_modules/@ffmpeg-installer/linux-x64', 'better-sqlite3', 'a', 'a/node_modules/b'].map((p) => [`node_modules/${p}`, {}]);
      writeFileSync(
        path.join(app, 'package-lock.json'),
        JSON.stringify({ lockfileVersion: 3, packages: { '': {}, ...Object.fromEntries(packages), 'node_modules/typescript': { dev: true } } }),
      );

      const listed = list(app).map((f) => f.file).sort();
      expect(listed).toEqual(
        [
          'node_modules/grammy/out/mod.js',
          `node_modules/onnxruntime-node/bin/napi-v6/${here}/onnxruntime_binding.node`,
          'node_modules/onnxruntime-node/dist/index.js',
          'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
          'node_modules/better-sqlite3/lib/index.js',
          'node_modules/a/node_modules/b/index.js',
          'node_modules/a/index.js',
        ].sort(),
      );
      execFileSync(process.execPath, [script, 'prune', app]);
      const left = (dir: string): string[] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? left(path.join(dir, e.name)) : [path.relative(app, path.join(dir, e.name))]));
      expect(left(path.join(app, 'node_modules')).sort()).toEqual(listed);
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });
});
