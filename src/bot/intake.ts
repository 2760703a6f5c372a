// A voice note arrives: answer from cache, refuse politely, or accept it as a durable job.
import { Composer, type Context } from 'grammy';
import type { Message } from 'grammy/types';
import type { Logger } from 'pino';
import { admit, RATE_WINDOW_MS, type AdmissionLimits } from '../jobs/admission.js';
import type { JobStore } from '../jobs/job-store.js';
import type { Metrics } from '../metrics/metrics.js';
import { errorMessage, t, uiLanguageOf } from './i18n.js';
import { isUnsupportedDocument, mediaOf, type MediaFile } from './media.js';
import type { SettingsStore } from './settings-store.js';
import type { TelegramChannel } from './telegram-channel.js';

export interface IntakeDeps {
  store: JobStore;
  settings: SettingsStore;
  channel: TelegramChannel;
  limits: AdmissionLimits;
  /** The model transcribing now: part of the cache key. */
  modelId: string;
  metrics: Metrics;
  log: Logger;
  availableMemoryMb: () => number;
  /** Tells the dispatcher a job is waiting. */
  onJobQueued: () => void;
}

const isGroup = (ctx: Context) => ctx.chat?.type === 'group' || ctx.chat?.type === 'supergroup';

export class Intake {
  constructor(private readonly deps: IntakeDeps) {}

  /** Accepts `target` (the voice note itself, or the one a /transcribe replied to) for `ctx.from`. */
  async accept(ctx: Context, target: Message, media: MediaFile): Promise<void> {
    const { store, settings, metrics, log } = this.deps;
    const from = ctx.from!;
    const ui = uiLanguageOf(from.language_code);
    const prefs = settings.user(from.id);
    const task = prefs.translate ? 'translate' : 'transcribe';
    const now = Date.now();
    const replyTo = { reply_parameters: { message_id: target.message_id, allow_sending_without_reply: true } };
    const base = {
      updateId: ctx.update.update_id,
      chatId: target.chat.id,
      chatType: target.chat.type,
      messageId: target.message_id,
      userId: from.id,
      fileId: media.fileId,
      fileUniqueId: media.fileUniqueId,
      mediaKind: media.kind,
      fileSize: media.fileSize,
      claimedSeconds: media.duration,
      requestedLanguage: prefs.language,
      task,
      timestamps: prefs.timestamps,
      uiLanguage: ui,
      createdAt: now,
    } as const;

    const cached = store.findTranscript({ fileUniqueId: media.fileUniqueId, model: this.deps.modelId, requestedLanguage: prefs.language, task, timestamps: prefs.timestamps });
    if (cached?.result) {
      const { result } = cached;
      const job = store.insert({ ...base, status: 'done', fromCache: true, model: this.deps.modelId, language: result.language, audioSeconds: result.audioSeconds, finishedAt: now });
      if (!job) return;
      metrics.cacheHits.inc();
      await this.deps.channel.deliver(job, { ...result, fromCache: true });
      log.info({ jobId: job.id, userId: from.id, chatId: target.chat.id, fileUniqueId: media.fileUniqueId, fromJob: cached.id }, 'answered from a stored transcript');
      return;
    }

    const recent = store.recentForUser(from.id, now - RATE_WINDOW_MS);
    const refusal = admit(
      {
        now,
        sentAt: target.date * 1000,
        fileSizeBytes: media.fileSize,
        claimedSeconds: media.duration,
        pendingJobs: store.pendingCount(),
        userActiveJobs: store.activeForUser(from.id),
        userJobsLastMinute: recent.n,
        userOldestJobLastMinute: recent.oldest,
        availableMemoryMb: this.deps.availableMemoryMb(),
      },
      this.deps.limits,
    );
    if (refusal) {
      metrics.refusals.inc({ reason: refusal.code });
      log.info({ userId: from.id, chatId: target.chat.id, messageId: target.message_id, reason: refusal.code, detail: refusal.detail }, 'voice note refused');
      await ctx.api.sendMessage(target.chat.id, errorMessage(ui, refusal), replyTo);
      return;
    }

    const job = store.insert(base);
    if (!job) return; // this voice note is a job already
    metrics.jobsQueued.inc();
    const status = await ctx.api.sendMessage(target.chat.id, t(ui, 'queued', { position: store.queuePosition(job.id) }), replyTo);
    store.setStatusMessage(job.id, status.message_id);
    log.info({ jobId: job.id, userId: from.id, chatId: target.chat.id, messageId: target.message_id, mediaKind: media.kind }, 'voice note accepted');
    this.deps.onJobQueued();
  }

  middleware(): Composer<Context> {
    const composer = new Composer<Context>();
    composer.on('message', async (ctx, next) => {
      const media = mediaOf(ctx.message);
      if (!media) {
        if (ctx.chat.type === 'private' && isUnsupportedDocument(ctx.message)) {
          await ctx.reply(t(uiLanguageOf(ctx.from.language_code), 'unsupportedFile'), { reply_parameters: { message_id: ctx.message.message_id } });
          return;
        }
        return next();
      }
      if (isGroup(ctx) && this.deps.settings.groupMode(ctx.chat.id) === 'on_request') return next();
      await this.accept(ctx, ctx.message, media);
    });
    return composer;
  }
}
