// This machine's measured speed (`npm run bench -- --calibrate`), kept in DATA_DIR beside the database.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Calibration } from './model-choice.js';

export const CALIBRATION_FILE = 'calibration.json';

export interface CalibrationRead {
  calibration?: Calibration;
  /** Why there is none: not measured yet, or the file is unreadable (and what to do). */
  note?: string;
}

export function readCalibration(dataDir: string): CalibrationRead {
  const file = path.join(dataDir, CALIBRATION_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { note: code === 'ENOENT' ? 'not calibrated: npm run bench -- --calibrate' : `${file} unreadable (${code}): calibration ignored` };
  }
  try {
    const data = JSON.parse(text) as Calibration;
    if (!(data.factor > 0 && Number.isFinite(data.factor) && Number.isInteger(data.vcpus))) throw new Error('no positive factor or vCPU count');
    return { calibration: data };
  } catch (error) {
    return { note: `${file} is not a calibration (${(error as Error).message}): run npm run bench -- --calibrate again` };
  }
}

/** Written whole and renamed, so a bot starting meanwhile never reads half a file. */
export function writeCalibration(dataDir: string, calibration: Calibration): string {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, CALIBRATION_FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(calibration, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
  return file;
}
