// Pure policy: is a new voice note accepted now? Every refusal says when to try again.
import { JobError } from './errors.js';

export interface AdmissionLimits {
  queueMax: number;
  userJobsPerMinute: number;
  userMaxActiveJobs: number;
  memoryMinAvailableMb: number;
  maxFileMb: number;
  maxAudioSeconds: number;
  maxUpdateAgeSeconds: number;
}

export interface AdmissionRequest {
  now: number;
  /** When Telegram says the message was sent, in ms. */
  sentAt: number;
  fileSizeBytes: number | undefined;
  /** The duration Telegram reports, when it does. */
  claimedSeconds: number | undefined;
  pendingJobs: number;
  userActiveJobs: number;
  userJobsLastMinute: number;
  userOldestJobLastMinute: number | null;
  availableMemoryMb: number;
}

export const RATE_WINDOW_MS = 60_000;
/** What a queue or memory refusal suggests; a job takes seconds, so this is generous. */
const BUSY_RETRY_SECONDS = 60;

export function admit(r: AdmissionRequest, limits: AdmissionLimits): JobError | null {
  if (r.now - r.sentAt > limits.maxUpdateAgeSeconds * 1000) {
    return new JobError('stale', `message sent ${Math.round((r.now - r.sentAt) / 1000)} s ago`);
  }
  if (r.fileSizeBytes !== undefined && r.fileSizeBytes > limits.maxFileMb * 2 ** 20) {
    return new JobError('too_large', `file of ${r.fileSizeBytes} bytes`, { maxMb: limits.maxFileMb });
  }
  if (r.claimedSeconds !== undefined && r.claimedSeconds > limits.maxAudioSeconds) {
    return new JobError('too_long', `Telegram reports ${r.claimedSeconds} s`, { maxSeconds: limits.maxAudioSeconds });
  }
  if (r.userActiveJobs >= limits.userMaxActiveJobs) {
    return new JobError('busy_user', `${r.userActiveJobs} jobs already pending for this user`, { retryAfterSeconds: 30 });
  }
  if (r.userJobsLastMinute >= limits.userJobsPerMinute) {
    const oldest = r.userOldestJobLastMinute ?? r.now;
    const retryAfterSeconds = Math.max(1, Math.ceil((oldest + RATE_WINDOW_MS - r.now) / 1000));
    return new JobError('rate_limited', `${r.userJobsLastMinute} jobs in the last minute`, { retryAfterSeconds });
  }
  if (r.pendingJobs >= limits.queueMax) {
    return new JobError('queue_full', `${r.pendingJobs} jobs pending`, { retryAfterSeconds: BUSY_RETRY_SECONDS });
  }
  if (r.availableMemoryMb < limits.memoryMinAvailableMb) {
    return new JobError('low_memory', `${r.availableMemoryMb} MB available`, { retryAfterSeconds: BUSY_RETRY_SECONDS });
  }
  return null;
}
