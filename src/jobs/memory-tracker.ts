// Samples process memory while a job runs: the operator sees what each voice note cost.

const SAMPLE_EVERY_MS = 50;
const MB = 2 ** 20;

export interface MemoryReport {
  rssBeforeMb: number;
  rssAfterMb: number;
  heapBeforeMb: number;
  heapAfterMb: number;
  rssPeakMb: number;
}

export class MemoryTracker {
  private readonly rssBefore = process.memoryUsage.rss();
  private readonly heapBefore = process.memoryUsage().heapUsed;
  private peak = this.rssBefore;
  private readonly timer = setInterval(() => {
    this.peak = Math.max(this.peak, process.memoryUsage.rss());
  }, SAMPLE_EVERY_MS).unref();

  stop(): MemoryReport {
    clearInterval(this.timer);
    const rssAfter = process.memoryUsage.rss();
    this.peak = Math.max(this.peak, rssAfter);
    return {
      rssBeforeMb: this.rssBefore / MB,
      rssAfterMb: rssAfter / MB,
      heapBeforeMb: this.heapBefore / MB,
      heapAfterMb: process.memoryUsage().heapUsed / MB,
      rssPeakMb: this.peak / MB,
    };
  }
}
