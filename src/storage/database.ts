// Opens the SQLite database: parent directory created, writability checked, WAL, migrations applied.
import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import * as schema from './schema.js';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

export class StorageError extends Error {
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}

const MIGRATIONS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

function describe(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  // fs errors already start with their code ("EACCES: permission denied, ..."); SQLite's do not.
  return e.code && !String(e.message).startsWith(e.code) ? `${e.code}: ${e.message}` : String(e.message ?? e);
}

export function openDatabase(file: string): Db {
  const dir = path.dirname(file);
  try {
    // A bind-mounted ./data may not exist yet on a fresh VPS.
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (error) {
    throw new StorageError(dir, `the database directory ${dir} cannot be created or written (${describe(error)}); check DATA_DIR/DATABASE_PATH and the volume's owner`, { cause: error });
  }

  let sqlite: Database.Database;
  try {
    sqlite = new Database(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    const check = sqlite.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(`quick_check: ${String(check)}`);
  } catch (error) {
    throw new StorageError(file, `the database ${file} cannot be opened (${describe(error)}); if it is corrupt, move it aside and restart`, { cause: error });
  }

  const db = drizzle(sqlite, { schema });
  try {
    migrate(db, { migrationsFolder: MIGRATIONS });
    // Fresh statistics let the planner use the period indexes for /stats (SQLite's advice at open).
    sqlite.pragma('optimize=0x10002');
  } catch (error) {
    sqlite.close();
    throw new StorageError(file, `migrating the database ${file} failed (${describe(error)})`, { cause: error });
  }
  return db;
}

/** True when a write goes through: what /readyz asks of the database. */
export function isWritable(db: Db): boolean {
  try {
    db.$client.prepare('CREATE TEMP TABLE IF NOT EXISTS readiness_probe (x)').run();
    db.$client.prepare('PRAGMA user_version').get();
    return !db.$client.readonly;
  } catch {
    return false;
  }
}
