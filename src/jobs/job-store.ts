// The durable queue: every accepted voice note is a row before work starts.
import { and, count, eq, gte, inArray, isNotNull, lt, sql } from 'drizzle-orm';
import type { Db } from '../storage/database.js';
import { jobs, seenUpdates, type TranscriptRecord } from '../storage/schema.js';

export type Job = typeof jobs.$inferSelect;

const STATUS_MESSAGE_WAIT_MS = 5_000;
export type NewJob = typeof jobs.$inferInsert;
export type JobOutcome = Partial<Omit<Job, 'id' | 'status' | 'chatId' | 'messageId'>>;

/** Everything that changes a transcript: a stored one answers a forwarded copy only when all of it matches. */
export interface TranscriptKey {
  fileUniqueId: string;
  model: string;
  /** The fixed language, or null when it was detected. */
  requestedLanguage: string | null;
  task: Job['task'];
  timestamps: boolean;
}

export class JobStore {
  constructor(private readonly db: Db) {}

  pruneSeenUpdates(olderThan: number): number {
    return this.db.delete(seenUpdates).where(lt(seenUpdates.seenAt, olderThan)).run().changes;
  }

  /** Clears the transcripts of finished jobs created before `transcriptsBefore`, then deletes finished jobs created before `jobsBefore`. */
  pruneFinished(transcriptsBefore: number, jobsBefore: number): { transcripts: number; jobs: number } {
    const finished = inArray(jobs.status, ['done', 'failed']);
    const transcripts = this.db
      .update(jobs)
      .set({ transcript: null })
      .where(and(lt(jobs.createdAt, transcriptsBefore), finished, isNotNull(jobs.transcript)))
      .run().changes;
    const deleted = this.db.delete(jobs).where(and(lt(jobs.createdAt, jobsBefore), finished)).run().changes;
    return { transcripts, jobs: deleted };
  }

  /** Undefined when a job for this (chat, message) exists already: one voice note, one reply. */
  insert(job: NewJob): Job | undefined {
    return this.db.insert(jobs).values(job).onConflictDoNothing().returning().get();
  }

  get(id: number): Job | undefined {
    return this.db.select().from(jobs).where(eq(jobs.id, id)).get();
  }

  setStatusMessage(id: number, statusMessageId: number): void {
    this.db.update(jobs).set({ statusMessageId }).where(eq(jobs.id, id)).run();
  }

  /**
   * Leases the next job; a lease that runs out makes the job claimable again. Every claim counts an
   * attempt, so a note that kills the whole process (onnxruntime's native memory, an OOM kill) uses
   * its attempts up like one that fails in-process.
   *
   * Fair across users: the next job belongs to the user served longest ago (or never), so one
   * user's forwarded batch takes turns with everyone else's notes instead of running ahead of them;
   * within a user, oldest first. A new job waits until its "queued" status message is out (or a few
   * seconds have passed), so the user never gets two status messages for one voice note.
   */
  claimNext(leaseMs: number, now = Date.now()): Job | undefined {
    const next = sql`(SELECT j.id FROM jobs j
      WHERE (j.status = 'queued' AND (j.status_message_id IS NOT NULL OR j.created_at < ${now - STATUS_MESSAGE_WAIT_MS}))
         OR (j.status = 'processing' AND j.lease_until < ${now})
      ORDER BY (SELECT MAX(s.started_at) FROM jobs s WHERE s.user_id = j.user_id), j.id
      LIMIT 1)`;
    return this.db
      .update(jobs)
      .set({ status: 'processing', attempts: sql`${jobs.attempts} + 1`, leaseUntil: now + leaseMs, startedAt: now })
      .where(eq(jobs.id, next))
      .returning()
      .get();
  }

  heartbeat(id: number, leaseMs: number, now = Date.now()): void {
    this.db.update(jobs).set({ leaseUntil: now + leaseMs }).where(and(eq(jobs.id, id), eq(jobs.status, 'processing'))).run();
  }

  /** The transcript and what making it measured, kept before delivery starts. */
  saveResult(id: number, result: TranscriptRecord, outcome: JobOutcome): void {
    this.db.update(jobs).set({ ...outcome, result }).where(eq(jobs.id, id)).run();
  }

  /** Telegram accepted `pieces` pieces of the answer so far. */
  markDelivered(id: number, pieces: number): void {
    this.db.update(jobs).set({ deliveredPieces: pieces }).where(eq(jobs.id, id)).run();
  }

  /** Back to the queue for a retry: the attempt it used stays counted. */
  release(id: number): void {
    this.db.update(jobs).set({ status: 'queued', leaseUntil: null }).where(and(eq(jobs.id, id), eq(jobs.status, 'processing'))).run();
  }

  /** Back to the queue because the bot is stopping: the interrupted attempt is given back. */
  releaseForShutdown(id: number): void {
    this.db
      .update(jobs)
      .set({ status: 'queued', leaseUntil: null, attempts: sql`MAX(${jobs.attempts} - 1, 0)` })
      .where(and(eq(jobs.id, id), eq(jobs.status, 'processing')))
      .run();
  }

  /**
   * At startup no other process can be working: whatever was processing was cut off by a crash or
   * kill. `giveBackAttempts` when the process never runs the audio itself (ROLE=bot): its death was
   * then not the note's doing, and the queued job it waited for goes on.
   */
  releaseAbandoned(giveBackAttempts = false): number {
    const attempts = giveBackAttempts ? { attempts: sql`MAX(${jobs.attempts} - 1, 0)` } : {};
    return this.db.update(jobs).set({ status: 'queued', leaseUntil: null, ...attempts }).where(eq(jobs.status, 'processing')).run().changes;
  }

  finish(id: number, status: 'done' | 'failed', outcome: JobOutcome, now = Date.now()): void {
    this.db.update(jobs).set({ ...outcome, status, leaseUntil: null, finishedAt: now }).where(eq(jobs.id, id)).run();
  }

  /** Jobs waiting or running: the queue depth. */
  pendingCount(): number {
    return this.db.select({ n: count() }).from(jobs).where(inArray(jobs.status, ['queued', 'processing'])).get()?.n ?? 0;
  }

  /** 1 for the next job to run; processing jobs ahead count too. */
  queuePosition(id: number): number {
    const ahead = this.db.select({ n: count() }).from(jobs).where(and(inArray(jobs.status, ['queued', 'processing']), lt(jobs.id, id))).get()?.n ?? 0;
    return ahead + 1;
  }

  activeForUser(userId: number): number {
    return this.db.select({ n: count() }).from(jobs).where(and(eq(jobs.userId, userId), inArray(jobs.status, ['queued', 'processing']))).get()?.n ?? 0;
  }

  /** Jobs the user started since `since`, and when the oldest of them started. */
  recentForUser(userId: number, since: number): { n: number; oldest: number | null } {
    const row = this.db
      .select({ n: count(), oldest: sql<number | null>`MIN(${jobs.createdAt})` })
      .from(jobs)
      .where(and(eq(jobs.userId, userId), gte(jobs.createdAt, since), eq(jobs.fromCache, false)))
      .get();
    return { n: row?.n ?? 0, oldest: row?.oldest ?? null };
  }

  /** A finished transcript of the same file (a forwarded voice note) made the same way, if one is stored. */
  findTranscript(key: TranscriptKey): Job | undefined {
    return this.db
      .select()
      .from(jobs)
      .where(
        and(
          eq(jobs.fileUniqueId, key.fileUniqueId),
          eq(jobs.status, 'done'),
          eq(jobs.model, key.model),
          sql`${jobs.requestedLanguage} IS ${key.requestedLanguage}`,
          eq(jobs.task, key.task),
          eq(jobs.timestamps, key.timestamps),
          sql`${jobs.result} IS NOT NULL`,
        ),
      )
      .orderBy(sql`${jobs.id} DESC`)
      .limit(1)
      .get();
  }
}
