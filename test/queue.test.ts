// The durable queue's policy on a real SQLite file: fair claims, attempts, retention; PCM buffer and limits.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { JobStore, type NewJob } from '../src/jobs/job-store.js';
import { Retention } from '../src/jobs/retention.js';
import { Metrics } from '../src/metrics/metrics.js';
import { openDatabase } from '../src/storage/database.js';

const DAY = 86_400_000;
let nextMessage = 1;

function freshStore(): JobStore {
  return new JobStore(openDatabase(path.join(mkdtempSync(path.join(os.tmpdir(), 'voicebot-queue-')), 'voicebot.sqlite')));
}

function job(userId: number, extra: Partial<NewJob> = {}): NewJob {
  const messageId = nextMessage++;
  // Older than the status-message wait, so the job is claimable at once.
  return { chatId: userId, chatType: 'private', messageId, userId, fileId: `f${messageId}`, fileUniqueId: `u${messageId}`, mediaKind: 'voice', createdAt: Date.now() - 10_000, ...extra };
}

describe('claimNext', () => {
  it('takes turns between users: a batch of six does not run ahead of the notes others send after it', () => {
    const store = freshStore();
    for (let i = 0; i < 6; i++) store.insert(job(1));
    store.insert(job(2));
    store.insert(job(3));
    const order: number[] = [];
    for (let claimed = store.claimNext(60_000); claimed; claimed = store.claimNext(60_000)) {
      order.push(claimed.userId);
      store.finish(claimed.id, 'done', {});
    }
    console.log(`fair order of 8 notes (user 1 forwarded six first): ${order.join(' ')}`);
    expect(order).toEqual([1, 2, 3, 1, 1, 1, 1, 1]);
  });

  it('serves the user waiting longest while others are still being served', () => {
    const store = freshStore();
    for (let i = 0; i < 3; i++) store.insert(job(10));
    const first = store.claimNext(60_000)!; // user 10 is being served
    store.insert(job(11));
    expect(store.claimNext(60_000)!.userId).toBe(11);
    store.finish(first.id, 'done', {});
    expect(store.claimNext(60_000)!.userId).toBe(10);
  });

  it('counts an attempt at every claim, also after a crash; a shutdown gives the attempt back', () => {
    const store = freshStore();
    const { id } = store.insert(job(20))!;
    expect(store.claimNext(60_000)!.attempts).toBe(1);
    expect(store.releaseAbandoned()).toBe(1); // the process died mid-job
    expect(store.claimNext(60_000)!.attempts).toBe(2);
    store.releaseForShutdown(id);
    expect(store.get(id)).toMatchObject({ status: 'queued', attempts: 1 });
    expect(store.claimNext(60_000)!.attempts).toBe(2);
  });
});

describe('retention', () => {
  it('clears old transcripts first, deletes old finished rows later, never touches pending jobs', () => {
    const store = freshStore();
    const now = Date.now();
    const at = (days: number, status: 'done' | 'failed' | 'queued') => store.insert(job(30, { createdAt: now - days * DAY, status, transcript: status === 'done' ? 'text' : null }))!.id;
    const recent = at(5, 'done');
    const older = at(40, 'done');
    const oldest = at(100, 'done');
    const oldFailure = at(100, 'failed');
    const waiting = at(100, 'queued');
    const retention = new Retention({ store, transcriptRetentionDays: 30, jobRetentionDays: 90, metrics: new Metrics(), log: pino({ level: 'silent' }) });
    expect(retention.prune(now)).toEqual({ transcripts: 2, jobs: 2 });
    expect(store.get(recent)!.transcript).toBe('text');
    expect(store.get(older)!.transcript).toBeNull();
    expect(store.get(oldest)).toBeUndefined();
    expect(store.get(oldFailure)).toBeUndefined();
    expect(store.get(waiting)!.status).toBe('queued');
  });

  it('is configured from the environment; transcripts may not outlive their rows', () => {
    const env = { BOT_TOKEN: '1:x' };
    const machine = { vcpus: 2, memoryMb: 4096 };
    expect(loadConfig(env, machine)).toMatchObject({ transcriptRetentionDays: 30, jobRetentionDays: 90 });
    expect(loadConfig({ ...env, JOB_RETENTION_DAYS: '7' }, machine)).toMatchObject({ transcriptRetentionDays: 7, jobRetentionDays: 7 });
    expect(() => loadConfig({ ...env, JOB_RETENTION_DAYS: '7', TRANSCRIPT_RETENTION_DAYS: '8' }, machine)).toThrow(/TRANSCRIPT_RETENTION_DAYS/);
  });
});

describe('per-user backlog', () => {
  it('by default accepts a forwarded batch well beyond six notes', () => {
    const config = loadConfig({ BOT_TOKEN: '1:x' }, { vcpus: 2, memoryMb: 4096 });
    expect(config.userMaxActiveJobs).toBeGreaterThanOrEqual(20);
    expect(config.userJobsPerMinute).toBeGreaterThanOrEqual(20);
  });
});

describe('MAX_AUDIO_SECONDS', () => {
  it('is what the operator asks, on any tier: a note costs disk, not memory (the workers read it from its file)', () => {
    const config = loadConfig({ BOT_TOKEN: '1:x', WHISPER_MODEL: 'base', MAX_AUDIO_SECONDS: '86400', ASR_WORKERS: '1' }, { vcpus: 1, memoryMb: 900 });
    expect(config.maxAudioSeconds).toBe(86_400);
    expect(loadConfig({ BOT_TOKEN: '1:x' }, { vcpus: 1, memoryMb: 900 }).maxAudioSeconds).toBe(600);
    expect(() => loadConfig({ BOT_TOKEN: '1:x', MAX_AUDIO_SECONDS: '0' }, { vcpus: 1, memoryMb: 900 })).toThrow(/MAX_AUDIO_SECONDS/);
  });
});
