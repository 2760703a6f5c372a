// Per-user and per-chat settings, and forgetting a user entirely.
import { eq } from 'drizzle-orm';
import type { Db } from '../storage/database.js';
import { chatSettings, jobs, userSettings } from '../storage/schema.js';

export type UserSettings = Omit<typeof userSettings.$inferSelect, 'userId'>;
export type GroupMode = (typeof chatSettings.$inferSelect)['groupMode'];

const DEFAULTS: UserSettings = { language: null, translate: false, timestamps: false };

export class SettingsStore {
  constructor(private readonly db: Db) {}

  user(userId: number): UserSettings {
    const row = this.db.select().from(userSettings).where(eq(userSettings.userId, userId)).get();
    return row ? { language: row.language, translate: row.translate, timestamps: row.timestamps } : { ...DEFAULTS };
  }

  updateUser(userId: number, change: Partial<UserSettings>): UserSettings {
    const next = { ...this.user(userId), ...change };
    this.db.insert(userSettings).values({ userId, ...next }).onConflictDoUpdate({ target: userSettings.userId, set: next }).run();
    return next;
  }

  groupMode(chatId: number): GroupMode {
    return this.db.select().from(chatSettings).where(eq(chatSettings.chatId, chatId)).get()?.groupMode ?? 'all';
  }

  setGroupMode(chatId: number, groupMode: GroupMode): void {
    this.db.insert(chatSettings).values({ chatId, groupMode }).onConflictDoUpdate({ target: chatSettings.chatId, set: { groupMode } }).run();
  }

  /** Deletes the user's jobs (with their transcripts) and settings; returns how many jobs went. */
  forgetUser(userId: number): number {
    return this.db.transaction((tx) => {
      const removed = tx.delete(jobs).where(eq(jobs.userId, userId)).run().changes;
      tx.delete(userSettings).where(eq(userSettings.userId, userId)).run();
      return removed;
    });
  }
}
