// Starts, stops, crashes and worker deaths, kept in SQLite so a restart loop is never a mystery.
import { desc, inArray } from 'drizzle-orm';
import type { Db } from './database.js';
import { lifecycleEvents } from './schema.js';

export type LifecycleKind = 'start' | 'stop' | 'unclean_exit' | 'crash' | 'worker_exit' | 'decoder_exit';

export class LifecycleLog {
  constructor(
    private readonly db: Db,
    /** Removes secrets from a row's detail: a crash's message may quote a URL with the bot token. */
    private readonly scrub: (text: string) => string,
  ) {}

  record(kind: LifecycleKind, detail: Record<string, unknown> = {}, at = Date.now()): void {
    this.db.insert(lifecycleEvents).values({ at, kind, detail: this.scrub(JSON.stringify(detail)) }).run();
  }

  /** True when the previous run started and recorded neither a stop nor a crash: it was killed (OOM, power). */
  previousRunWasUnclean(): boolean {
    const last = this.db
      .select({ kind: lifecycleEvents.kind })
      .from(lifecycleEvents)
      .where(inArray(lifecycleEvents.kind, ['start', 'stop', 'crash']))
      .orderBy(desc(lifecycleEvents.id))
      .limit(1)
      .get();
    return last?.kind === 'start';
  }
}
