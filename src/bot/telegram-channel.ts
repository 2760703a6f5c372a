// The pipeline's view of Telegram: show progress, deliver the transcript (files: telegram-files.ts).
import { GrammyError, InputFile, type Api } from 'grammy';
import { JobError } from '../jobs/errors.js';
import type { Job, JobStore } from '../jobs/job-store.js';
import type { ReplyChannel, Transcript } from '../jobs/pipeline.js';
import { errorMessage, t } from './i18n.js';
import { isTransient, withRetries } from './transient-retry.js';
import { splitMessage, TELEGRAM_MESSAGE_LIMIT } from './text-split.js';
import { toSrt, withTimestamps } from './transcript-format.js';

/** Notes longer than this also get an .srt file when timestamps are on. */
const SRT_MIN_SECONDS = 60;

export interface TelegramChannelOptions {
  /** A client without retries of its own: this channel retries each piece of an answer itself. */
  api: Api;
  /** Where a failed attachment (.txt, .srt) is reported: the text itself was delivered. */
  onAttachmentError: (job: Job, error: Error) => void;
  /** Where a call that failed and will be tried again is reported. */
  onRetry: (job: Job, error: Error, retryInMs: number) => void;
  store: JobStore;
  /** Removes secrets from error details that are logged and stored. */
  scrub: (text: string) => string;
}

function replyTo(job: Job) {
  return { reply_parameters: { message_id: job.messageId, allow_sending_without_reply: true } };
}

/** The status message is gone (deleted by the user) or can no longer be edited: a fresh one replaces it. */
function isGone(error: unknown): boolean {
  return error instanceof GrammyError && error.error_code === 400 && /message to edit not found|can't be edited/i.test(error.description);
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
        // Anything but a vanished message is thrown: a fresh message after a 429 or a 500 would be a second copy.
        if (!isGone(error)) throw error;
      }
    }
    const sent = await this.api.sendMessage(job.chatId, text, replyTo(job));
    this.options.store.setStatusMessage(job.id, sent.message_id);
    return sent.message_id;
  }

  private withRetries<T>(job: Job, send: () => Promise<T>): Promise<T> {
    return withRetries(send, (error, retryInMs) => this.options.onRetry(job, error, retryInMs));
  }

  // No "typing" chat action with these: Telegram paces each chat, so every call, an action too,
  // holds back the answer behind it by about a second; the status message says it all.
  async working(job: Job): Promise<void> {
    await this.showStatus(job, t(job.uiLanguage, 'working'));
  }

  async progress(job: Job, chunksDone: number, chunksTotal: number): Promise<void> {
    if (chunksTotal <= 1 || chunksDone >= chunksTotal) return;
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

  /**
   * Sends what of the answer Telegram has not accepted yet: the status message becomes the first
   * part, the rest follow as replies to the voice note, then the .txt and .srt files. Each accepted
   * piece is recorded in the job row, so a retry (in this process or after a restart) sends none twice.
   */
  async deliver(job: Job, transcript: Transcript): Promise<void> {
    const body = job.timestamps && transcript.segments.length > 0 ? withTimestamps(transcript.segments) : transcript.text;
    const footer = this.footer(job, transcript);
    const parts = splitMessage(body, TELEGRAM_MESSAGE_LIMIT - footer.length);
    parts[parts.length - 1] += footer;

    const pieces: [string, () => Promise<unknown>][] = parts.map((part, i) => [
      `part ${i + 1}/${parts.length}`,
      i === 0 ? () => this.showStatus(job, part) : () => this.api.sendMessage(job.chatId, part, replyTo(job)),
    ]);
    if (parts.length > 1) pieces.push(['.txt file', () => this.attach(job, body, 'txt', t(job.uiLanguage, 'fullTranscript'))]);
    if (job.timestamps && transcript.segments.length > 0 && transcript.audioSeconds > SRT_MIN_SECONDS) {
      pieces.push(['.srt file', () => this.attach(job, toSrt(transcript.segments), 'srt', t(job.uiLanguage, 'srtCaption'))]);
    }

    let delivered = this.deliveredPieces(job);
    for (const [what, send] of pieces.slice(delivered)) {
      try {
        await this.withRetries(job, send);
      } catch (error) {
        throw new JobError('reply_failed', `${what} of the answer: ${this.options.scrub((error as Error).message)}`);
      }
      this.options.store.markDelivered(job.id, ++delivered);
    }
  }

  private deliveredPieces(job: Job): number {
    return this.options.store.get(job.id)?.deliveredPieces ?? job.deliveredPieces;
  }

  /** Attachments follow the delivered text: one Telegram refuses is reported, not a reason to fail the job. */
  private async attach(job: Job, content: string, extension: 'txt' | 'srt', caption: string): Promise<void> {
    try {
      const file = new InputFile(Buffer.from(content, 'utf8'), `transcript-${job.messageId}.${extension}`);
      await this.api.sendDocument(job.chatId, file, { ...replyTo(job), caption });
    } catch (error) {
      if (isTransient(error)) throw error;
      this.options.onAttachmentError(job, error as Error);
    }
  }

  /** Once part of an answer is out, the error follows it as a new message instead of replacing it. */
  async refuse(job: Job, error: JobError): Promise<void> {
    const text = errorMessage(job.uiLanguage, error);
    if (this.deliveredPieces(job) > 0) await this.withRetries(job, () => this.api.sendMessage(job.chatId, text, replyTo(job)));
    else await this.withRetries(job, () => this.showStatus(job, text));
  }
}
