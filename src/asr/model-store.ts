// Keeps the chosen model's files in MODELS_DIR, in the hub's layout (<org>/<name>/<file>).
// Downloads only what is missing; when everything is present the bot starts offline.
import { createWriteStream } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { modelFiles } from './catalog.js';

export type DownloadStage = 'dns' | 'connect' | 'tls' | 'http' | 'write';

export class ModelDownloadError extends Error {
  constructor(
    readonly host: string,
    readonly stage: DownloadStage,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ModelDownloadError';
  }
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME']);
const CONNECT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);

function errorCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: string; errors?: { code?: string }[] } })?.cause;
  return cause?.code ?? cause?.errors?.[0]?.code ?? (error as NodeJS.ErrnoException)?.code;
}

/** The most specific text an error carries: undici puts the real reason in `cause`. */
function errorReason(error: unknown): string {
  return errorCode(error) ?? (error as { cause?: Error }).cause?.message ?? (error as Error).message;
}

function remedy(stage: DownloadStage, modelId: string): string {
  const offline = `or download it ahead with "npm run models:pull -- ${modelId}" (the Dockerfile's PREPULL_MODEL build arg does this) so the bot starts offline`;
  switch (stage) {
    case 'dns':
      return `Fix: give the container working DNS (the "dns:" list in docker-compose.prod.yml, or /etc/resolv.conf), point MODEL_HUB_URL at a mirror you can resolve, ${offline}.`;
    case 'connect':
    case 'tls':
      return `Fix: check the firewall/proxy between this machine and the hub, point MODEL_HUB_URL at a reachable mirror, ${offline}.`;
    case 'http':
      return `Fix: check WHISPER_MODEL names a model that has ONNX files on the hub, ${offline}.`;
    case 'write':
      return 'Fix: make MODELS_DIR writable by the bot (check the volume and its owner) and that the disk has room.';
  }
}

function classify(error: unknown, host: string, modelId: string, file: string): ModelDownloadError {
  const code = errorCode(error) ?? '';
  const stage: DownloadStage = DNS_CODES.has(code) ? 'dns' : CONNECT_CODES.has(code) ? 'connect' : /CERT|SSL|TLS/.test(code) ? 'tls' : 'connect';
  const what = {
    dns: `DNS resolution of ${host} failed (${code})`,
    connect: `the connection to ${host} failed (${errorReason(error)})`,
    tls: `the TLS handshake with ${host} failed (${code})`,
    http: '',
    write: '',
  }[stage];
  return new ModelDownloadError(host, stage, `cannot download ${modelId}/${file}: ${what}. ${remedy(stage, modelId)}`, { cause: error });
}

async function present(file: string): Promise<boolean> {
  try {
    return (await stat(file)).size > 0;
  } catch {
    return false;
  }
}

function modelDir(modelsDir: string, modelId: string): string {
  return path.join(modelsDir, ...modelId.split('/'));
}

export async function missingModelFiles(modelsDir: string, modelId: string, dtype: string): Promise<string[]> {
  const dir = modelDir(modelsDir, modelId);
  const missing: string[] = [];
  for (const file of modelFiles(dtype)) if (!(await present(path.join(dir, file)))) missing.push(file);
  return missing;
}

export interface EnsureModelOptions {
  modelId: string;
  modelsDir: string;
  hubUrl: string;
  dtype: string;
  revision?: string;
  onFile?: (file: string, bytes: number, ms: number) => void;
}

/** Downloads whatever of the model is missing. Returns the files it fetched (none: offline start). */
export async function ensureModel(options: EnsureModelOptions): Promise<string[]> {
  const { modelId, modelsDir, hubUrl, dtype } = options;
  const missing = await missingModelFiles(modelsDir, modelId, dtype);
  const host = new URL(hubUrl).host;
  const dir = modelDir(modelsDir, modelId);
  for (const file of missing) {
    const url = `${hubUrl}/${modelId}/resolve/${options.revision ?? 'main'}/${file}`;
    const started = performance.now();
    let response: Response;
    try {
      response = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(30 * 60_000) });
    } catch (error) {
      throw classify(error, host, modelId, file);
    }
    if (!response.ok || !response.body) {
      throw new ModelDownloadError(host, 'http', `cannot download ${modelId}/${file}: ${host} answered HTTP ${response.status} ${response.statusText}. ${remedy('http', modelId)}`);
    }
    const target = path.join(dir, file);
    // A partial file of its own: workers sharing a models folder (docker-compose.scale.yml, where
    // every container's Node has the same pid) may download the same file at once, and each rename
    // then puts a whole copy in place.
    const partial = `${target}.${randomUUID()}.part`;
    try {
      await mkdir(path.dirname(target), { recursive: true });
      // Written under .part and renamed, so an interrupted download never looks complete.
      await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), createWriteStream(partial));
      await rename(partial, target);
    } catch (error) {
      await rm(partial, { force: true });
      const code = errorCode(error) ?? '';
      if (DNS_CODES.has(code) || CONNECT_CODES.has(code)) throw classify(error, host, modelId, file);
      throw new ModelDownloadError(host, 'write', `cannot save ${modelId}/${file} into ${dir}: ${(error as Error).message}. ${remedy('write', modelId)}`, { cause: error });
    }
    options.onFile?.(file, (await stat(target)).size, performance.now() - started);
  }
  return missing;
}
