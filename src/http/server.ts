// /healthz (the process answers), /readyz (the role's checks: model loaded, database writable,
// Telegram reached, queue reachable, workers connected), /metrics.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from '../metrics/metrics.js';

/** The checks /readyz answers, by name: all must pass. */
export type Readiness = Record<string, () => boolean>;

export interface HttpServerOptions {
  port: number;
  metrics: Metrics;
  readiness: Readiness;
  /** Extra routes, e.g. the Telegram webhook. Returns true when it handled the request. */
  extra?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export interface RunningHttpServer {
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  // The same checks as /readyz, as a gauge: Prometheus scrapes /metrics, never /readyz.
  const readiness = () => {
    const checks = Object.fromEntries(Object.entries(options.readiness).map(([check, passes]) => [check, passes()]));
    for (const [check, ok] of Object.entries(checks)) options.metrics.ready.set({ check }, ok ? 1 : 0);
    return checks;
  };
  const server = http.createServer((req, res) => {
    const url = req.url?.split('?')[0];
    if (options.extra?.(req, res)) return;
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url === '/readyz') {
      const checks = readiness();
      const ok = Object.values(checks).every(Boolean);
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: ok, ...checks }));
    } else if (url === '/metrics') {
      readiness();
      options.metrics.registry
        .metrics()
        .then((body) => res.writeHead(200, { 'content-type': options.metrics.registry.contentType }).end(body))
        .catch((error: Error) => res.writeHead(500).end(error.message));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
