// Runs the real bot (src/main.ts) as a child process and reads its JSON log lines.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO } from './test-model.js';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export class BotProcess {
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  private child?: ChildProcess;
  private exitCode?: number | null;
  private exited?: Promise<number | null>;

  constructor(private readonly env: Record<string, string>) {}

  start(): this {
    this.child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/main.ts')], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffered = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.stderr.push(line);
        }
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString('utf8')));
    this.exited = new Promise((resolve) => this.child!.on('exit', (code) => resolve((this.exitCode = code))));
    return this;
  }

  get pid(): number {
    return this.child!.pid!;
  }

  hasExited(): boolean {
    return this.exitCode !== undefined;
  }

  /** Everything the process wrote, for assertion messages. */
  output(): string {
    return [...this.logs.map((l) => JSON.stringify(l)), ...this.stderr].join('\n');
  }

  async waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find(predicate);
      if (found) return found;
      if (this.hasExited()) throw new Error(`bot exited (${this.exitCode}) before the expected log line:\n${this.output()}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for a log line:\n${this.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Resolves once the bot takes updates: polling, or its webhook set. */
  ready(timeoutMs = 90_000): Promise<LogLine> {
    return this.waitForLog((l) => l.msg === 'long polling' || l.msg === 'webhook set', timeoutMs);
  }

  /** The port of /healthz, /readyz, /metrics (and the webhook). */
  async httpPort(): Promise<number> {
    return Number((await this.waitForLog((l) => l.msg === 'health and metrics listening')).port);
  }

  async waitForExit(timeoutMs = 60_000): Promise<number | null> {
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`bot did not exit in ${timeoutMs} ms:\n${this.output()}`)), timeoutMs).unref());
    return Promise.race([this.exited!, timeout]);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (!this.child || this.hasExited()) return this.exitCode ?? null;
    this.child.kill(signal);
    return this.waitForExit();
  }
}
