// A voice note's file from the Bot API to a temporary path: what the bot (ROLE=all) and a
// transcription worker (ROLE=worker, which has the file_id from the queue) both need.
import { createWriteStream } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { copyFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GrammyError, type Api } from 'grammy';
import { JobError } from '../jobs/errors.js';
import { withRetries } from './transient-retry.js';

export interface TelegramFilesOptions {
  /** getFile is retried here (transient failures), so a client without retries of its own. */
  api: Api;
  token: string;
  apiRoot: string;
  /** Removes secrets from error details: the download URL holds the bot token. */
  scrub: (text: string) => string;
  /** Where a call that failed and will be tried again is reported. */
  onRetry: (jobId: number, error: Error, retryInMs: number) => void;
}

/** How the downloaded files are named in the temporary directory. */
export const DOWNLOAD_FILE_PREFIX = 'voicebot-job-';

export class TelegramFiles {
  constructor(private readonly options: TelegramFilesOptions) {}

  /** Downloads `fileId` to a temporary path (named after `jobId`) that the caller deletes. */
  async download(fileId: string, jobId: number, maxBytes: number): Promise<string> {
    const { api, onRetry } = this.options;
    let filePath: string | undefined;
    try {
      filePath = (await withRetries(() => api.getFile(fileId), (error, retryInMs) => onRetry(jobId, error, retryInMs))).file_path;
    } catch (error) {
      if (error instanceof GrammyError && /file is too big/i.test(error.description)) {
        throw new JobError('too_large', error.description, { maxMb: Math.round(maxBytes / 2 ** 20) });
      }
      throw new JobError('download_failed', `getFile: ${this.options.scrub((error as Error).message)}`);
    }
    if (!filePath) throw new JobError('download_failed', 'getFile returned no file_path');

    const target = path.join(os.tmpdir(), `${DOWNLOAD_FILE_PREFIX}${jobId}-${randomUUID()}`);
    try {
      // A local Bot API server (--local) hands out absolute paths on its own volume.
      if (path.isAbsolute(filePath)) {
        await copyFile(filePath, target);
        return target;
      }
      const response = await fetch(`${this.options.apiRoot}/file/bot${this.options.token}/${filePath}`, { signal: AbortSignal.timeout(120_000) });
      if (!response.ok) throw new JobError('download_failed', `file download answered HTTP ${response.status}`);
      if (!response.body || response.headers.get('content-length') === '0') throw new JobError('broken_audio', 'the file is empty');
      let bytes = 0;
      const cap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          bytes += chunk.length;
          if (bytes > maxBytes) done(new JobError('too_large', `more than ${maxBytes} bytes`, { maxMb: Math.round(maxBytes / 2 ** 20) }));
          else done(null, chunk);
        },
      });
      await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), cap, createWriteStream(target));
      return target;
    } catch (error) {
      await rm(target, { force: true });
      if (error instanceof JobError) throw error;
      // The URL holds the bot token: never let it reach a log through the error message.
      throw new JobError('download_failed', this.options.scrub((error as Error).message));
    }
  }
}
