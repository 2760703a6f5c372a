// Consistent copies of the live database (SQLite's online backup API) with rotation.
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StorageError } from './database.js';

const BACKUP_NAME = /^voicebot-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z\.sqlite$/;

export interface Backup {
  file: string;
  bytes: number;
  /** Older backups deleted to keep the newest `keep`. */
  removed: string[];
}

/**
 * Copies the database page by page while the bot keeps writing: the copy is one consistent
 * snapshot (WAL included) in one file, checked with quick_check, and only then given its final name, so a
 * backup that was interrupted never counts as one and never pushes a good one out of rotation.
 */
export async function backupDatabase(databasePath: string, backupsDir: string, keep: number, now = new Date()): Promise<Backup> {
  const file = path.join(backupsDir, `voicebot-${now.toISOString().replace(/[:.]/g, '-')}.sqlite`);
  const partial = `${file}.partial`;
  let source: Database.Database | undefined;
  try {
    mkdirSync(backupsDir, { recursive: true });
    source = new Database(databasePath, { readonly: true, fileMustExist: true });
    await source.backup(partial);
    const copy = new Database(partial);
    try {
      // One self-contained file: the copy inherits WAL mode, which would give it -wal and -shm companions.
      copy.pragma('journal_mode = DELETE');
      const check = copy.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`the copy fails quick_check: ${String(check)}`);
    } finally {
      copy.close();
    }
    renameSync(partial, file);
  } catch (error) {
    rmSync(partial, { force: true });
    throw new StorageError(databasePath, `backing up ${databasePath} into ${backupsDir} failed (${(error as Error).message})`, { cause: error });
  } finally {
    source?.close();
  }

  const backups = readdirSync(backupsDir).filter((name) => BACKUP_NAME.test(name)).sort();
  const removed = backups.slice(0, Math.max(0, backups.length - keep)).map((name) => path.join(backupsDir, name));
  for (const old of removed) rmSync(old);
  return { file, bytes: statSync(file).size, removed };
}
