// The machine, named as a VPS tier; and, as root and only when asked, emulating a smaller one
// with a swap file and a memory cgroup (see shared/notes/tier-emulation.md).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { memoryLimitMb, vcpus } from '../src/machine.js';
import type { BenchResults } from './results.js';

function meminfoMb(field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/meminfo', 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : 0;
}

export function cpuModel(): string {
  return os.cpus()[0]?.model.trim() ?? 'unknown';
}

function tierName(memoryMb: number, swapMb: number, cpus: number): string {
  const gb = Math.max(1, Math.round(memoryMb / 1024));
  return `${gb}gb${swapMb > 0 ? '-swap' : ''}-${cpus}vcpu`;
}

/** What the bench's child processes will see: pinned CPUs and an emulated memory limit win. */
export function describeTier(applied: { cpus?: number; memoryMb?: number; emulation: string }): BenchResults['tier'] {
  const cpus = applied.cpus ?? vcpus();
  const memoryMb = applied.memoryMb ?? memoryLimitMb();
  const swapMb = meminfoMb('SwapTotal');
  return { name: tierName(memoryMb, swapMb, cpus), vcpus: cpus, memoryMb, swapMb, cpuModel: cpuModel(), emulation: applied.emulation };
}

/** Counters for swap traffic: system-wide pages swapped in and out. */
export function vmstat(): { pswpin: number; pswpout: number } {
  const text = readFileSync('/proc/vmstat', 'utf8');
  const read = (key: string) => Number(new RegExp(`^${key} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { pswpin: read('pswpin'), pswpout: read('pswpout') };
}

/** One kB field of /proc/self/status, in MB. */
function statusMb(field: 'VmHWM' | 'RssFile'): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
}

/** This process's peak RSS in MB since it started or since the last resetPeakRss() (VmHWM). */
export const peakRssMb = (): number => statusMb('VmHWM');

/** The file-backed part of this process's RSS in MB (RssFile: code, and weights mapped from model files). */
export const fileRssMb = (): number => statusMb('RssFile');

/** Starts a new peak from the current RSS, so one phase's peak can be read alone. */
export function resetPeakRss(): void {
  writeFileSync('/proc/self/clear_refs', '5');
}

/** Major page faults of this process (field 12 of /proc/self/stat), its threads included. */
export function majorFaults(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[9]);
}

export interface TierSpec {
  memoryMb: number;
  swapMb: number;
  cpus: number;
}

/** `1gb-swap-1vcpu` → 1024 MB RAM, 1024 MB swap, 1 CPU; `2gb-2vcpu` → no swap. */
export function parseTier(name: string): TierSpec | undefined {
  const match = /^(\d+)gb(-swap)?-(\d+)vcpu$/.exec(name);
  if (!match) return undefined;
  const memoryMb = Number(match[1]) * 1024;
  return { memoryMb, swapMb: match[2] ? memoryMb : 0, cpus: Number(match[3]) };
}

/**
 * A memory cgroup (child of this process's own, cgroup v1 or v2) and optionally a swap file.
 * Everything it sets up, `undo()` removes; callers run it on exit and on SIGINT/SIGTERM.
 */
export class TierEmulation {
  private cgroupDir?: string;
  private swapFile?: string;
  readonly applied: string[] = [];

  static available(): string | undefined {
    if (process.getuid?.() !== 0) return 'tier emulation needs root';
    if (!existsSync('/proc/self/cgroup')) return 'no cgroups on this machine';
    return undefined;
  }

  private ownMemoryCgroup(): { dir: string; v2: boolean } {
    const lines = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
    const v1 = lines.find((l) => /^\d+:memory:/.test(l));
    if (v1) return { dir: path.join('/sys/fs/cgroup/memory', v1.split(':')[2]!), v2: false };
    const v2 = lines.find((l) => l.startsWith('0::'));
    return { dir: path.join('/sys/fs/cgroup', v2?.slice(3) ?? '/'), v2: true };
  }

  /** Limits RAM for processes later moved in with `adopt`; turns on swap when the tier has it. */
  apply(spec: TierSpec): void {
    if (spec.swapMb > 0 && meminfoMb('SwapTotal') === 0) {
      const file = '/var/tmp/voicebot-bench.swap';
      execFileSync('fallocate', ['-l', `${spec.swapMb}M`, file]);
      execFileSync('chmod', ['600', file]);
      execFileSync('mkswap', [file], { stdio: 'ignore' });
      execFileSync('swapon', [file]);
      this.swapFile = file;
      this.applied.push(`swap ${spec.swapMb} MB`);
    }
    const own = this.ownMemoryCgroup();
    const dir = path.join(own.dir, `voicebot-bench-${process.pid}`);
    mkdirSync(dir);
    this.cgroupDir = dir;
    const bytes = String(spec.memoryMb * 2 ** 20);
    writeFileSync(path.join(dir, own.v2 ? 'memory.max' : 'memory.limit_in_bytes'), bytes);
    this.applied.push(`memory cgroup ${spec.memoryMb} MB RAM${own.v2 ? '' : ' (cgroup v1: swap not capped per cgroup)'}`);
  }

  adopt(pid: number): void {
    if (this.cgroupDir) writeFileSync(path.join(this.cgroupDir, 'cgroup.procs'), String(pid));
  }

  undo(): void {
    if (this.cgroupDir) {
      try {
        rmdirSync(this.cgroupDir);
      } catch {
        // a process still inside: it is ending; the kernel frees the group with it
      }
      this.cgroupDir = undefined;
    }
    if (this.swapFile) {
      try {
        execFileSync('swapoff', [this.swapFile]);
      } finally {
        execFileSync('rm', ['-f', this.swapFile]);
        this.swapFile = undefined;
      }
    }
  }
}
