// npm run db:backup: a consistent copy of the live database into $DATA_DIR/backups, keeping BACKUP_KEEP.
import path from 'node:path';
import { ConfigError, loadConfig } from '../config.js';
import { memoryLimitMb, vcpus } from '../machine.js';
import { backupDatabase } from '../storage/backup.js';

try {
  const config = loadConfig(process.env, { vcpus: vcpus(), memoryMb: memoryLimitMb() }, { requireToken: false });
  const backup = await backupDatabase(config.databasePath, path.join(config.dataDir, 'backups'), config.backupKeep);
  console.log(`${config.databasePath} → ${backup.file} (${(backup.bytes / 2 ** 20).toFixed(1)} MB)`);
  for (const old of backup.removed) console.log(`  removed ${old} (BACKUP_KEEP=${config.backupKeep})`);
} catch (error) {
  console.error(error instanceof ConfigError ? `invalid configuration: ${error.message}` : (error as Error).message);
  process.exit(1);
}
