// The part of the Bot API a transcription needs, on 127.0.0.1: getFile, and the file itself. The
// bench's notes are corpus clips, downloaded the way the bot and its workers download voice notes.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const BENCH_TOKEN = '424242:bench-token_abcdefghijklmnopqrstu';

export class ClipServer {
  private readonly clips = new Map<string, Buffer>();
  private server?: http.Server;

  /** Serves `file` under its file_id. */
  add(fileId: string, file: string): void {
    this.clips.set(fileId, readFileSync(file));
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      const download = new RegExp(`^/file/bot${BENCH_TOKEN}/clips/(.+)$`).exec(url.pathname);
      if (download) {
        const bytes = this.clips.get(download[1]!);
        if (bytes) res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
        else res.writeHead(404).end();
        return;
      }
      if (url.pathname !== `/bot${BENCH_TOKEN}/getFile`) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error_code: 404, description: 'Not Found' }));
        return;
      }
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const fileId = String((JSON.parse(body || '{}') as { file_id?: string }).file_id);
        const found = this.clips.has(fileId);
        res
          .writeHead(found ? 200 : 400, { 'content-type': 'application/json' })
          .end(JSON.stringify(found ? { ok: true, result: { file_id: fileId, file_unique_id: fileId, file_path: `clips/${fileId}` } } : { ok: false, error_code: 400, description: 'Bad Request: invalid file_id' }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
