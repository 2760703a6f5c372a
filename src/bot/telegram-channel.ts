// The pipeline's view of Telegram: download a job's file, show progress, deliver the transcript.
import { createWriteStream } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { copyFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GrammyError, InputFile, type Api } from 'grammy';
import { JobError } from '../jobs/errors.js';
import type { Job, JobStore } from '../jobs/job-store.js';
import type { ReplyChannel, Transcript } from '../jobs/pipeline.js';
import { errorMessage, t } from './i18n.js';
import { splitMessage, TELEGRAM_MESSAGE_LIMIT } from './text-split.js';
import { toSrt, withTimestamps } from './transcript-format.js';

/** Notes longer than this also get an .srt file when timestamps are on. */
const SRT_MIN_SECONDS = 60;

export interface TelegramChannelOptions {
  api: Api;
  /** Where a failed attachment (.txt, .srt) is reported: the text itself was delivered. */
  onAttachmentError: (job: Job, error: Error) => void;
  store: JobStore;
  token: string;
  apiRoot: string;
}

function replyTo(job: Job) {
  return { reply_parameters: { message_id: job.messageId, allow_sending_without_reply: true } };
}

export class TelegramChannel implements ReplyChannel {
  constructor(private readonly options: TelegramChannelOptions) {}

  private get api(): Api {
    return this.options.api;
  }

  /** The status message id as stored now: the job row read at claim time may predate it. */
  private statusMessageOf(job: Job): number | null {
    return this.options.store.get(job.id)?.statusMessageId ?? job.statusMessageId;
  }

  /** Edits the job's status message, or sends a new reply when there is none or it is gone. */
  private async showStatus(job: Job, text: string): Promise<number> {
    const existing = this.statusMessageOf(job);
    if (existing) {
      try {
        await this.api.editMessageText(job.chatId, existing, text);
        return existing;
      } catch (error) {
        if (error instanceof GrammyError && /message is not modified/.test(error.description)) return existing;
        if (!(error instanceof GrammyError)) throw error;
        // deleted by the user, or too old to edit: fall through and send a fresh one
      }
    }
    const sent = await this.api.sendMessage(job.chatId, text, replyTo(job));
    this.options.store.setStatusMessage(job.id, sent.message_id);
    return sent.message_id;
  }

  async download(job: Job, maxBytes: number): Promise<string> {
    let filePath: string | undefined;
    try {
      filePath = (await this.api.getFile(job.fileId)).file_path;
    } catch (error) {
      if (error instanceof GrammyError && /file is too big/i.test(error.description)) {
        throw new JobError('too_large', error.description, { maxMb: Math.round(maxBytes / 2 ** 20) });
      }
      throw new JobError('download_failed', `getFile: ${(error as Error).message}`);
    }
    if (!filePath) throw new JobError('download_failed', 'getFile returned no file_path');

    const target = path.join(os.tmpdir(), `voicebot-job-${job.id}-${randomUUID()}`);
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
      throw new JobError('download_failed', (error as Error).message.replaceAll(this.options.token, '<token>'));
    }
  }

  async working(job: Job): Promise<void> {
    await this.api.sendChatAction(job.chatId, 'typing').catch(() => undefined);
    await this.showStatus(job, t(job.uiLanguage, 'working'));
  }

  async progress(job: Job, chunksDone: number, chunksTotal: number): Promise<void> {
    if (chunksTotal <= 1 || chunksDone >= chunksTotal) return;
    await this.api.sendChatAction(job.chatId, 'typing').catch(() => undefined);
    await this.showStatus(job, t(job.uiLanguage, 'progress', { done: chunksDone, total: chunksTotal }));
  }

  private footer(job: Job, transcript: Transcript): string {
    const ui = job.uiLanguage;
    const notes: string[] = [];
    if (transcript.language) notes.push(t(ui, job.requestedLanguage ? 'fixedLanguage' : 'detected', { language: transcript.language }));
    if (job.task === 'translate') notes.push(t(ui, 'translated'));
    if (transcript.loopCut) notes.push(t(ui, 'loopCut'));
    if (transcript.fromCache) notes.push(t(ui, 'fromCache'));
    return notes.length ? `\n\n— ${notes.join(' · ')}` : '';
  }

  async deliver(job: Job, transcript: Transcript): Promise<void> {
    const body = job.timestamps && transcript.segments.length > 0 ? withTimestamps(transcript.segments) : transcript.text;
    const footer = this.footer(job, transcript);
    const parts = splitMessage(body, TELEGRAM_MESSAGE_LIMIT - footer.length);
    parts[parts.length - 1] += footer;

    // The status message becomes the first part; the rest follow as replies to the voice note.
    await this.showStatus(job, parts[0]!);
    for (const part of parts.slice(1)) await this.api.sendMessage(job.chatId, part, replyTo(job));

    if (parts.length > 1) await this.attach(job, body, 'txt', t(job.uiLanguage, 'fullTranscript'));
    if (job.timestamps && transcript.segments.length > 0 && transcript.audioSeconds > SRT_MIN_SECONDS) {
      await this.attach(job, toSrt(transcript.segments), 'srt', t(job.uiLanguage, 'srtCaption'));
    }
  }

  /** Attachments follow the delivered text: failing one must not re-run the job and repeat the text. */
  private async attach(job: Job, content: string, extension: 'txt' | 'srt', caption: string): Promise<void> {
    try {
      const file = new InputFile(Buffer.from(content, 'utf8'), `transcript-${job.messageId}.${extension}`);
      await this.api.sendDocument(job.chatId, file, { ...replyTo(job), caption });
    } catch (error) {
      this.options.onAttachmentError(job, error as Error);
    }
  }

  async refuse(job: Job, error: JobError): Promise<void> {
    await this.showStatus(job, errorMessage(job.uiLanguage, error));
  }
}
