// Operators' tooling: alert rules (promtool), the dashboard, the monitoring profile, metric names
// on a running bot, database backups, and terminal logs.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { backupDatabase } from '../src/storage/backup.js';
import { speechOgg } from './support/audio.js';
import { Harness } from './support/harness.js';
import { REPO } from './support/test-model.js';

const read = (file: string) => readFileSync(path.join(REPO, file), 'utf8');
const PROMETHEUS_DIR = path.join(REPO, 'deploy/prometheus');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
}
interface AlertTest {
  eval_time: string;
  alertname: string;
  exp_alerts: unknown[];
}
interface Panel {
  title: string;
  targets: { expr: string }[];
  fieldConfig: { defaults: { thresholds: { steps: { value: number | null }[] }; custom?: { thresholdsStyle?: { mode: string } } } };
}

const rules = (parse(read('deploy/prometheus/alerts.yml')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const ruleTests = (parse(read('deploy/prometheus/alerts.test.yml')) as { tests: { name: string; alert_rule_test: AlertTest[] }[] }).tests;
const dashboard = JSON.parse(read('deploy/grafana/dashboards/voicebot.json')) as { uid: string; panels: Panel[] };
const compose = parse(read('docker-compose.prod.yml')) as Record<string, any>;

function promtool(...args: string[]): string {
  const result = spawnSync('promtool', args, { cwd: PROMETHEUS_DIR, encoding: 'utf8' });
  if (result.error) throw new Error(`promtool is missing (Debian: apt-get install prometheus; .ci/run installs it): ${result.error.message}`);
  expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

describe('alert rules', () => {
  it('pass promtool check rules and check config', () => {
    expect(promtool('check', 'rules', 'alerts.yml')).toMatch(`SUCCESS: ${rules.length} rules found`);
    expect(promtool('check', 'config', 'prometheus.yml')).toMatch(/SUCCESS: 1 rule files found/);
  });

  it('pass their promtool unit tests', () => {
    expect(promtool('test', 'rules', 'alerts.test.yml')).toMatch(/SUCCESS/);
  });

  it('each has a test where it fires, and each is checked silent under normal load', () => {
    const fired = new Set(ruleTests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    const normal = ruleTests.find((t) => t.name === 'normal load raises nothing')!;
    const silent = new Set(normal.alert_rule_test.filter((a) => a.exp_alerts.length === 0).map((a) => a.alertname));
    for (const rule of rules) {
      expect(fired, rule.alert).toContain(rule.alert);
      expect(silent, rule.alert).toContain(rule.alert);
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels.severity);
    }
  });
});

describe('the dashboard', () => {
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
  const byTitle = (pattern: RegExp) => dashboard.panels.find((p) => pattern.test(p.title));

  it('has the panels operators asked for, on the provisioned datasource', () => {
    for (const pattern of [/RTF p50 \/ p95 by model and media kind/, /Audio seconds/, /Queue depth/, /Queue wait/, /Memory against the limit/, /swap/i, /Worker restarts by reason/, /Errors by place/, /Jobs by status/, /Model load time/]) {
      expect(byTitle(pattern), String(pattern)).toBeDefined();
    }
    const datasource = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as { datasources: { uid: string; url: string }[] };
    expect(JSON.stringify(dashboard)).not.toMatch(new RegExp(`"uid":\\s*"(?!${datasource.datasources[0]!.uid}|voicebot")`));
    expect(datasource.datasources[0]!.url).toBe('http://prometheus:9090');
  });

  it('draws each alert threshold on its panel, at the value the rule uses', () => {
    const drawn = [
      [/Memory against the limit/, 'VoicebotMemoryNearLimit'],
      [/Queue depth/, 'VoicebotQueueGrowing'],
      [/Queue wait/, 'VoicebotQueueWaitHigh'],
      [/Errors by place/, 'VoicebotErrors'],
      [/Failed job share/, 'VoicebotJobsFailing'],
    ] as const;
    for (const [title, alert] of drawn) {
      const panel = byTitle(title)!;
      expect(panel.fieldConfig.defaults.custom?.thresholdsStyle?.mode, panel.title).toBe('line');
      const threshold = panel.fieldConfig.defaults.thresholds.steps.at(-1)!.value!;
      expect(rules.find((r) => r.alert === alert)!.expr, panel.title).toMatch(new RegExp(`> ${threshold}\\b`));
    }
    // The RTF budget is a setting of the bot: drawn from the same series the rule compares with.
    expect(byTitle(/RTF p50/)!.targets.map((t) => t.expr)).toContain('max by (model) (voicebot_rtf_budget)');
    expect(exprs.length).toBeGreaterThan(15);
  });
});

describe('the monitoring profile', () => {
  const { prometheus, grafana, voicebot } = compose.services;

  it('adds Prometheus and Grafana under the monitoring profile only, bound to 127.0.0.1', () => {
    expect(voicebot.profiles).toBeUndefined();
    for (const service of [prometheus, grafana]) {
      expect(service.profiles).toEqual(['monitoring']);
      for (const port of service.ports) expect(port).toMatch(/^127\.0\.0\.1:/);
      expect(service.restart).toBe('unless-stopped');
    }
  });

  it('fits beside the bot on 2 GB, and not on 1 GB', () => {
    const mb = (limit: string) => Number(/^(\d+)m$/.exec(limit)![1]);
    const monitoring = mb(prometheus.mem_limit) + mb(grafana.mem_limit);
    for (const service of [prometheus, grafana]) expect(service.memswap_limit).toBe(service.mem_limit);
    const botDefault = mb(/MEM_LIMIT:-(\d+m)/.exec(voicebot.mem_limit)![1]!);
    expect(botDefault + monitoring).toBeGreaterThan(1024);
    // 2 GB with the bot's limit lowered as README says (small peaks at ~1140 MB), and ~250 MB for the system.
    expect(1400 + monitoring + 250).toBeLessThanOrEqual(2048);
    expect(read('README.md')).toMatch(/MEM_LIMIT=1400m/);
  });

  it('scrapes the bot on its container port, loads the rules, and provisions the dashboard', () => {
    const config = parse(read('deploy/prometheus/prometheus.yml')) as { rule_files: string[]; scrape_configs: { static_configs: { targets: string[] }[] }[] };
    expect(config.scrape_configs[0]!.static_configs[0]!.targets).toEqual([`voicebot:${voicebot.environment.HTTP_PORT}`]);
    expect(config.rule_files).toEqual(['alerts.yml']);
    expect(prometheus.volumes).toContain('./deploy/prometheus:/etc/prometheus:ro');
    expect(prometheus.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    const provider = parse(read('deploy/grafana/provisioning/dashboards/voicebot.yml')) as { providers: { options: { path: string } }[] };
    expect(grafana.volumes).toContain(`./deploy/grafana/dashboards:${provider.providers[0]!.options.path}:ro`);
    expect(grafana.volumes).toContain('./deploy/grafana/provisioning:/etc/grafana/provisioning:ro');
    for (const volume of [...prometheus.volumes, ...grafana.volumes].filter((v: string) => v.startsWith('./'))) {
      expect(existsSync(path.join(REPO, volume.split(':')[0]!)), volume).toBe(true);
    }
  });
});

/** Metric name -> the label sets of its samples, from the Prometheus text format. */
function parseExposition(text: string): Map<string, Record<string, string>[]> {
  const samples = new Map<string, Record<string, string>[]>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    samples.set(match[1]!, [...(samples.get(match[1]!) ?? []), labels]);
  }
  return samples;
}

/** Labels Prometheus adds itself (target labels, histogram buckets are in the samples anyway). */
const TARGET_LABELS = new Set(['instance', 'job']);
const PROMQL_WORDS = new Set(['by', 'on', 'without', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset']);

/** Every metric, label and label value an expression refers to that the bot's samples do not have. */
function missingReferences(expr: string, samples: Map<string, Record<string, string>[]>): string[] {
  const missing: string[] = [];
  const names = [...expr.matchAll(/\b(voicebot_\w+|up)\b/g)].map((m) => m[1]!).filter((n) => n !== 'up');
  for (const name of names) if (!samples.has(name)) missing.push(`metric ${name}`);
  for (const m of expr.matchAll(/\b(voicebot_\w+)\{([^}]*)\}/g)) {
    for (const matcher of m[2]!.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
      const [, label, op, value] = matcher;
      if (TARGET_LABELS.has(label!)) continue;
      const sets = samples.get(m[1]!) ?? [];
      if (!sets.some((s) => label! in s)) missing.push(`label ${label} of ${m[1]}`);
      else if (op !== '!=') for (const v of value!.split('|')) if (!sets.some((s) => s[label!] === v)) missing.push(`${label}="${v}" of ${m[1]}`);
    }
  }
  for (const m of expr.matchAll(/\b(?:by|on|without|ignoring)\s*\(([^)]*)\)/g)) {
    for (const label of m[1]!.split(',').map((s) => s.trim()).filter(Boolean)) {
      if (TARGET_LABELS.has(label) || PROMQL_WORDS.has(label)) continue;
      if (!names.some((n) => samples.get(n)?.some((s) => label in s))) missing.push(`label ${label} (in ${m[0]})`);
    }
  }
  return missing;
}

describe('a running bot', () => {
  let h: Harness;
  let metricsText: string;

  beforeAll(async () => {
    h = await Harness.create({ MAX_AUDIO_SECONDS: '60' });
    await h.startBot();
    // A transcript, a failed job (not audio) and a refusal (too long), so every labelled series has a sample.
    const good = h.api.sendVoice({ chatId: 71, userId: 71, bytes: speechOgg('Metrics for the dashboard.', 3), duration: 3 });
    const broken = h.api.sendVoice({ chatId: 72, userId: 72, bytes: Buffer.from('this is not audio'), duration: 2 });
    const tooLong = h.api.sendVoice({ chatId: 73, userId: 73, bytes: speechOgg('Long.', 1), duration: 3600 });
    await Promise.all([h.waitForAnswer(71, good.messageId), h.waitForAnswer(72, broken.messageId), h.waitForAnswer(73, tooLong.messageId)]);
    await h.waitForEmptyQueue();
    metricsText = await (await fetch(`http://127.0.0.1:${await h.bot.httpPort()}/metrics`)).text();
  }, 180_000);
  afterAll(async () => {
    expect(await h.stop()).toBe(0);
  });

  it('exports every metric, label and label value the alert rules and the dashboard use', () => {
    const samples = parseExposition(metricsText);
    const references = [...rules.map((r) => [`rule ${r.alert}`, r.expr]), ...dashboard.panels.flatMap((p) => p.targets.map((t) => [`panel ${p.title}`, t.expr]))];
    const missing = references.flatMap(([where, expr]) => missingReferences(expr!, samples).map((m) => `${where}: ${m}`));
    expect(missing).toEqual([]);
    // The checker itself finds a renamed metric, label and value.
    expect(missingReferences('rate(voicebot_rtf_renamed_bucket[5m])', samples)).toEqual(['metric voicebot_rtf_renamed_bucket']);
    expect(missingReferences('sum by (modell) (voicebot_rtf_budget)', samples)).toHaveLength(1);
    expect(missingReferences('voicebot_ready{check="modell"}', samples)).toEqual(['check="modell" of voicebot_ready']);
  });

  it('reports readiness, Telegram, memory and the RTF budget as metrics', () => {
    expect(metricsText).toMatch(/^voicebot_ready\{check="model"\} 1$/m);
    expect(metricsText).toMatch(/^voicebot_telegram_reachable 1$/m);
    expect(metricsText).toMatch(/^voicebot_rtf_budget\{model="voicebot-test\/whisper-test-tiny"\} 1$/m);
    expect(metricsText).toMatch(/^voicebot_worker_restarts_total\{reason="out_of_memory"\} 0$/m);
    expect(metricsText).toMatch(/^voicebot_jobs_queued_total 2$/m);
    expect(Number(/^voicebot_memory_limit_bytes (\d+)/m.exec(metricsText)![1])).toBeGreaterThan(2 ** 28);
  });

  it('npm run db:backup copies the live database, and a restored copy reads back', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/backup-db.ts'], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATA_DIR: h.dataDir, BACKUP_KEEP: '3' },
      encoding: 'utf8',
    });
    const backups = readdirSync(path.join(h.dataDir, 'backups'));
    expect(backups).toHaveLength(1);
    expect(out).toContain(backups[0]);

    // Restore as README says: the copy becomes voicebot.sqlite of a (stopped) bot's DATA_DIR.
    const restoredDir = mkdtempSync(path.join(os.tmpdir(), 'voicebot-restored-'));
    copyFileSync(path.join(h.dataDir, 'backups', backups[0]!), path.join(restoredDir, 'voicebot.sqlite'));
    const restored = new Database(path.join(restoredDir, 'voicebot.sqlite'), { readonly: true });
    try {
      const rows = restored.prepare('SELECT status, error_code AS code FROM jobs ORDER BY id').all();
      expect(rows).toEqual(h.query('SELECT status, error_code AS code FROM jobs ORDER BY id'));
      expect(rows.map((r) => (r as { status: string }).status).sort()).toEqual(['done', 'failed']);
    } finally {
      restored.close();
    }
  });

  it('keeps the newest BACKUP_KEEP backups', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'voicebot-backups-'));
    const database = path.join(h.dataDir, 'voicebot.sqlite');
    for (const minute of [1, 2, 3]) await backupDatabase(database, dir, 2, new Date(Date.UTC(2026, 0, 1, 0, minute)));
    expect(readdirSync(dir)).toEqual(['voicebot-2026-01-01T00-02-00-000Z.sqlite', 'voicebot-2026-01-01T00-03-00-000Z.sqlite']);
    await expect(backupDatabase(path.join(dir, 'absent.sqlite'), dir, 2)).rejects.toThrow(/backing up .*absent\.sqlite/);
    expect(readdirSync(dir)).toHaveLength(2);
  });

  it('after a kill the next run exports the unclean exit; with the Bot API gone Telegram reads unreachable', async () => {
    await h.bot.stop('SIGKILL');
    await h.startBot();
    const url = `http://127.0.0.1:${await h.bot.httpPort()}/metrics`;
    const scrape = async () => (await fetch(url)).text();
    const first = await scrape();
    expect(first).toMatch(/^voicebot_previous_run_unclean 1$/m);
    expect(first).toMatch(/^voicebot_telegram_reachable 1$/m);

    await h.api.stop();
    const deadline = Date.now() + 30_000;
    while (!/^voicebot_telegram_reachable 0$/m.test(await scrape())) {
      expect(Date.now(), 'voicebot_telegram_reachable never became 0').toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }, 120_000);
});

describe('logs', () => {
  const script = `import { createLogger } from './src/metrics/logger.ts'; createLogger('info', '1:secret').info({ n: 1 }, 'hello');`;
  // util-linux's script(1) gives the process a terminal, as an operator's shell does.
  const onTerminal = (env: Record<string, string>) =>
    execFileSync('script', ['-qec', `${process.execPath} --import tsx --input-type=module -e "${script}"`, '/dev/null'], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      encoding: 'utf8',
    });

  // Not on a terminal they are JSON: every test that starts the bot parses its stdout as JSON lines.
  it('are pretty on a terminal in development, JSON on one in production', () => {
    const pretty = onTerminal({});
    expect(pretty).toMatch(/INFO.*hello/);
    expect(() => JSON.parse(pretty.trim())).toThrow();
    expect(JSON.parse(onTerminal({ NODE_ENV: 'production' }).trim())).toMatchObject({ level: 30, msg: 'hello', n: 1 });
  });
});
