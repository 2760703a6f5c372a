// Debian's redis-server on a free loopback port, with a data directory of its own (append-only
// file on, no RDB snapshots), stopped and started again on the same port and data: for the tests
// and `npm run bench -- --remote-workers`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A port nothing listens on now (the kernel's choice, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServerOptions {
  port: number;
  password?: string;
  /** More redis-server arguments, e.g. ['--maxmemory-policy', 'allkeys-lru']. */
  args?: string[];
}

export class RedisServer {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'voicebot-redis-'));
  readonly log: string[] = [];
  private child?: ChildProcess;
  private exited?: Promise<void>;

  constructor(private readonly options: RedisServerOptions) {
    // A test that dies must not leave a server behind.
    process.once('exit', () => this.child?.kill('SIGKILL'));
  }

  get port(): number {
    return this.options.port;
  }

  /** The QUEUE_URL of this server, with its password (or another one). */
  url(password = this.options.password): string {
    return `redis://${password ? `:${encodeURIComponent(password)}@` : ''}127.0.0.1:${this.options.port}/0`;
  }

  /** Starts it (again, on the same data) and resolves once it accepts connections. */
  async start(): Promise<void> {
    const { port, password, args = [] } = this.options;
    const child = spawn('redis-server', [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--appendonly', 'yes',
      '--save', '',
      '--daemonize', 'no',
      ...(password ? ['--requirepass', password] : []),
      ...args,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 20_000);
      const read = (chunk: Buffer) => {
        this.log.push(chunk.toString('utf8'));
        output += chunk.toString('utf8');
        if (/Ready to accept connections/.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', read);
      child.stderr!.on('data', read);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${output}`));
      });
    });
  }

  /** SIGTERM: Redis writes the append-only file out and exits, as `docker stop` makes it. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stops it and removes its data. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
