// The Dockerfile and the production compose file keep the properties the incidents taught us.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO } from './support/test-model.js';

const read = (file: string) => readFileSync(path.join(REPO, file), 'utf8');
const dockerfile = read('Dockerfile');
const compose = parse(read('docker-compose.prod.yml')) as Record<string, any>;
const bot = compose.services.voicebot;

/** Every variable config.ts reads. */
const configVariables = [...read('src/config.ts').matchAll(/r\.(?:raw|string|integer|decimal|optionalInteger|boolean|url)\('([A-Z_]+)'/g)].map((m) => m[1]!);

describe('Dockerfile', () => {
  it('is multi-stage on Node 20 Debian slim with ffmpeg from apt and production-only dependencies', () => {
    expect(dockerfile.match(/^FROM /gm)!.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^FROM node:20-[a-z]+-slim AS runtime/m);
    expect(dockerfile).toMatch(/apt-get install[^\n]*ffmpeg/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
  });

  it('runs as non-root under an init process, in production mode, with a health check', () => {
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/ENTRYPOINT \["\/usr\/bin\/tini", "--"\]/);
    expect(dockerfile).toMatch(/NODE_ENV=production/);
    expect(dockerfile).toMatch(/HEALTHCHECK[\s\S]*\/healthz/);
    expect(dockerfile).toMatch(/ARG PREPULL_MODEL/);
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

  it('waits longer on stop than the bot drains, with a health check and rotated logs', () => {
    const grace = Number(/(\d+)s/.exec(bot.stop_grace_period)![1]);
    const drain = Number(/SHUTDOWN_GRACE_SECONDS:-(\d+)/.exec(bot.environment.SHUTDOWN_GRACE_SECONDS)![1]);
    expect(grace).toBeGreaterThan(drain);
    expect(bot.healthcheck.test.join(' ')).toMatch(/healthz/);
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
