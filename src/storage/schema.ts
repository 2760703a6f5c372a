import { sqliteTable, integer, real, text, index, uniqueIndex } from 'drizzle-orm/sqlite-core';
import type { Segment } from '../asr/protocol.js';

export const JOB_STATUSES = ['queued', 'processing', 'done', 'failed'] as const;

export const MEDIA_KINDS = ['voice', 'audio', 'video_note', 'video', 'document'] as const;
export type MediaKind = (typeof MEDIA_KINDS)[number];

/** What Whisper answered for a job, cleaned: kept from transcription until it is delivered. */
export interface TranscriptRecord {
  text: string;
  language: string | null;
  segments: Segment[];
  audioSeconds: number;
  /** A repetition loop was cut out of the model's output. */
  loopCut: boolean;
}

/** One accepted voice note (or audio, round video, audio document): written before any work starts. */
export const jobs = sqliteTable(
  'jobs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    updateId: integer('update_id'),
    chatId: integer('chat_id').notNull(),
    chatType: text('chat_type').notNull(),
    messageId: integer('message_id').notNull(),
    userId: integer('user_id').notNull(),
    fileId: text('file_id').notNull(),
    fileUniqueId: text('file_unique_id').notNull(),
    mediaKind: text('media_kind', { enum: MEDIA_KINDS }).notNull(),
    fileSize: integer('file_size'),
    /** The duration Telegram reported; the decoded length is `audioSeconds`. */
    claimedSeconds: real('claimed_seconds'),
    /** Fixed language for this job, or null to detect it. */
    requestedLanguage: text('requested_language'),
    task: text('task', { enum: ['transcribe', 'translate'] }).notNull().default('transcribe'),
    timestamps: integer('timestamps', { mode: 'boolean' }).notNull().default(false),
    uiLanguage: text('ui_language').notNull().default('en'),
    statusMessageId: integer('status_message_id'),

    status: text('status', { enum: JOB_STATUSES }).notNull().default('queued'),
    attempts: integer('attempts').notNull().default(0),
    leaseUntil: integer('lease_until'),
    createdAt: integer('created_at').notNull(),
    /** When the latest attempt was claimed: fair scheduling serves the user served longest ago. */
    startedAt: integer('started_at'),
    finishedAt: integer('finished_at'),

    audioSeconds: real('audio_seconds'),
    /** What the VAD found speech in (null with VAD=off, or before the VAD ran). */
    speechSeconds: real('speech_seconds'),
    vadMs: real('vad_ms'),
    downloadMs: real('download_ms'),
    decodeMs: real('decode_ms'),
    queueWaitMs: real('queue_wait_ms'),
    inferenceMs: real('inference_ms'),
    /** Windows decoded again at a higher temperature (Whisper's fallback), over the whole note. */
    fallbacks: integer('fallbacks'),
    rtf: real('rtf'),
    rtfTotal: real('rtf_total'),
    model: text('model'),
    language: text('language'),
    workerId: integer('worker_id'),
    /** The transcription worker process (host:pid) that made the transcript; null in a single process (ROLE=all). */
    worker: text('worker'),
    threads: integer('threads'),
    rssBeforeMb: real('rss_before_mb'),
    rssAfterMb: real('rss_after_mb'),
    heapBeforeMb: real('heap_before_mb'),
    heapAfterMb: real('heap_after_mb'),
    rssPeakMb: real('rss_peak_mb'),
    transcript: text('transcript'),
    /**
     * Stored before delivery, so a Telegram failure retries only the delivery, never Whisper;
     * kept afterwards (segments for a cached /timestamps answer) only with STORE_TRANSCRIPTS.
     */
    result: text('result', { mode: 'json' }).$type<TranscriptRecord>(),
    /** How many pieces of the answer (message parts, then attachments) Telegram has accepted: none is sent twice. */
    deliveredPieces: integer('delivered_pieces').notNull().default(0),
    fromCache: integer('from_cache', { mode: 'boolean' }).notNull().default(false),
    errorCode: text('error_code'),
    errorDetail: text('error_detail'),
  },
  (t) => [
    uniqueIndex('jobs_chat_message').on(t.chatId, t.messageId),
    index('jobs_status_id').on(t.status, t.id),
    index('jobs_file_unique').on(t.fileUniqueId, t.status),
    // Covers /stats' count by status over a period without touching the table.
    index('jobs_created_status').on(t.createdAt, t.status),
    index('jobs_user_created').on(t.userId, t.createdAt),
    // Fair scheduling: when each user was last served (claimNext).
    index('jobs_user_started').on(t.userId, t.startedAt),
    // /stats' RTF percentiles: the k-th RTF of a model and media kind is an OFFSET into this index.
    index('jobs_model_kind_rtf').on(t.model, t.mediaKind, t.rtf, t.createdAt),
    // /stats' jobs and RTF p50 of each connected worker, the same way.
    index('jobs_worker_rtf').on(t.worker, t.rtf, t.createdAt),
  ],
);

/** Update ids already handled: long polling redelivers after a crash, and nothing is answered twice. */
export const seenUpdates = sqliteTable(
  'seen_updates',
  {
    updateId: integer('update_id').primaryKey(),
    seenAt: integer('seen_at').notNull(),
  },
  (t) => [index('seen_updates_seen').on(t.seenAt)],
);

/** Updates received and not yet handled: a process killed mid-batch replays them at the next start. */
export const inboxUpdates = sqliteTable('inbox_updates', {
  updateId: integer('update_id').primaryKey(),
  payload: text('payload').notNull(),
  receivedAt: integer('received_at').notNull(),
});

export const userSettings = sqliteTable('user_settings', {
  userId: integer('user_id').primaryKey(),
  /** null: detect the language of each note. */
  language: text('language'),
  translate: integer('translate', { mode: 'boolean' }).notNull().default(false),
  timestamps: integer('timestamps', { mode: 'boolean' }).notNull().default(false),
});

export const chatSettings = sqliteTable('chat_settings', {
  chatId: integer('chat_id').primaryKey(),
  /** all: every voice note in the group; on_request: only when someone replies /transcribe. */
  groupMode: text('group_mode', { enum: ['all', 'on_request'] }).notNull().default('all'),
});

/** Starts, stops, crashes and worker deaths, kept across restarts so none goes unexplained. */
export const lifecycleEvents = sqliteTable(
  'lifecycle_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: integer('at').notNull(),
    kind: text('kind').notNull(),
    detail: text('detail'),
  },
  (t) => [index('lifecycle_events_at').on(t.at)],
);
