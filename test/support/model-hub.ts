// A model hub on 127.0.0.1 serving a folder under the hub's layout: /<org>/<name>/resolve/<rev>/<file>.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export class LoopbackModelHub {
  readonly requests: string[] = [];
  private server?: http.Server;
  private port = 0;

  /** `root` holds <org>/<name>/<files>, as MODELS_DIR does. */
  constructor(readonly root: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = http.createServer(async (req, res) => {
      this.requests.push(req.url ?? '');
      const match = /^\/([^/]+)\/([^/]+)\/resolve\/[^/]+\/(.+)$/.exec(decodeURIComponent(new URL(req.url!, 'http://x').pathname));
      const file = match ? path.join(this.root, match[1]!, match[2]!, match[3]!) : undefined;
      if (!file || !file.startsWith(this.root) || file.includes('..')) {
        res.writeHead(404).end('Entry not found');
        return;
      }
      try {
        const info = await stat(file);
        res.writeHead(200, { 'content-length': info.size });
        createReadStream(file).pipe(res);
      } catch {
        res.writeHead(404).end('Entry not found');
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
