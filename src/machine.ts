// What the process may really use: container (cgroup) limits first, the host's figures second.
import { readFileSync } from 'node:fs';
import os from 'node:os';

function readNumber(file: string): number | undefined {
  try {
    const text = readFileSync(file, 'utf8').trim();
    if (text === 'max') return undefined;
    const n = Number(text.split(/\s+/)[0]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The cgroup memory limit in bytes, if one is set below the host's RAM. */
function cgroupMemoryLimitBytes(): number | undefined {
  const limit = readNumber('/sys/fs/cgroup/memory.max') ?? readNumber('/sys/fs/cgroup/memory/memory.limit_in_bytes');
  return limit !== undefined && limit < os.totalmem() ? limit : undefined;
}

function cgroupMemoryUsageBytes(): number | undefined {
  return readNumber('/sys/fs/cgroup/memory.current') ?? readNumber('/sys/fs/cgroup/memory/memory.usage_in_bytes');
}

/** The memory this process may use: the container's limit, else the host's RAM. */
export function memoryLimitBytes(): number {
  return cgroupMemoryLimitBytes() ?? os.totalmem();
}

export function memoryLimitMb(): number {
  return Math.floor(memoryLimitBytes() / 2 ** 20);
}

/** Memory still available to this process: the container's headroom, or the host's MemAvailable. */
export function availableMemoryMb(): number {
  const limit = cgroupMemoryLimitBytes();
  const used = cgroupMemoryUsageBytes();
  if (limit !== undefined && used !== undefined) return Math.floor((limit - used) / 2 ** 20);
  try {
    const meminfo = readFileSync('/proc/meminfo', 'utf8');
    const match = /^MemAvailable:\s+(\d+) kB/m.exec(meminfo);
    if (match) return Math.floor(Number(match[1]) / 1024);
  } catch {
    // not Linux: fall through to the portable figure
  }
  return Math.floor(os.freemem() / 2 ** 20);
}

/** Swap in use on the host, in MB (0 where /proc/meminfo is absent). */
export function swapUsedMb(): number {
  try {
    const meminfo = readFileSync('/proc/meminfo', 'utf8');
    const total = /^SwapTotal:\s+(\d+) kB/m.exec(meminfo);
    const free = /^SwapFree:\s+(\d+) kB/m.exec(meminfo);
    if (total && free) return Math.floor((Number(total[1]) - Number(free[1])) / 1024);
  } catch {
    // not Linux
  }
  return 0;
}

/**
 * This process's pages in swap (VmSwap; its worker threads included), 0 where /proc is absent.
 * Unlike the host's swap figures it is the bot's own, inside a container too.
 */
export function processSwapBytes(): number {
  try {
    const match = /^VmSwap:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function cgroupCpuQuota(): number | undefined {
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (quota && quota !== 'max' && period) return Number(quota) / Number(period);
  } catch {
    // cgroup v1, or no cgroup
  }
  const quota = readNumber('/sys/fs/cgroup/cpu/cpu.cfs_quota_us');
  const period = readNumber('/sys/fs/cgroup/cpu/cpu.cfs_period_us');
  return quota !== undefined && quota > 0 && period ? quota / period : undefined;
}

/**
 * vCPUs this process may use: the CPU affinity (a cpuset) through availableParallelism, and a
 * CFS quota (what compose's `cpus:` sets), which availableParallelism does not see.
 */
export function vcpus(): number {
  const quota = cgroupCpuQuota();
  const affinity = os.availableParallelism();
  return quota === undefined ? affinity : Math.max(1, Math.min(affinity, Math.ceil(quota)));
}
