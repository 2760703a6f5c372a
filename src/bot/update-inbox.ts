// Updates are durable from the moment getUpdates returns them, and count as seen only once handled.
import { eq, inArray } from 'drizzle-orm';
import type { Transformer } from 'grammy';
import type { Update } from 'grammy/types';
import type { Db } from '../storage/database.js';
import { inboxUpdates, seenUpdates } from '../storage/schema.js';

/**
 * grammY's runner asks for the next batch (which confirms the last one to Telegram) while the
 * handlers of the last one still run: a process killed then would lose every update whose handler
 * had not yet written its job. So each batch is stored as it arrives, before any handler runs; an
 * update leaves the inbox when its handler has finished, and the next start replays what is left.
 */
export class UpdateInbox {
  constructor(private readonly db: Db) {}

  /** An API transformer that stores what getUpdates returns before the runner sees it. */
  recorder(): Transformer {
    return async (prev, method, payload, signal) => {
      const response = await prev(method, payload, signal);
      if (method === 'getUpdates' && response.ok) {
        const updates = response.result as Update[];
        if (updates.length > 0) {
          const receivedAt = Date.now();
          this.db
            .insert(inboxUpdates)
            .values(updates.map((u) => ({ updateId: u.update_id, payload: JSON.stringify(u), receivedAt })))
            .onConflictDoNothing()
            .run();
        }
      }
      return response;
    };
  }

  wasHandled(updateId: number): boolean {
    return this.db.select({ id: seenUpdates.updateId }).from(seenUpdates).where(eq(seenUpdates.updateId, updateId)).get() !== undefined;
  }

  /** The handler finished: the update is seen (long polling may redeliver it) and leaves the inbox. */
  handled(updateId: number, now = Date.now()): void {
    this.db.transaction((tx) => {
      tx.insert(seenUpdates).values({ updateId, seenAt: now }).onConflictDoNothing().run();
      tx.delete(inboxUpdates).where(eq(inboxUpdates.updateId, updateId)).run();
    });
  }

  /** Updates a killed process received but did not finish handling, oldest first. */
  unhandled(): Update[] {
    const rows = this.db.select().from(inboxUpdates).orderBy(inboxUpdates.updateId).all();
    const done = rows.length ? new Set(this.db.select({ id: seenUpdates.updateId }).from(seenUpdates).where(inArray(seenUpdates.updateId, rows.map((r) => r.updateId))).all().map((r) => r.id)) : new Set<number>();
    return rows.filter((r) => !done.has(r.updateId)).map((r) => JSON.parse(r.payload) as Update);
  }
}
