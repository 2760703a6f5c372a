// A job's progress edits: one at a time, the latest wins, and none lands after the answer.
// Telegram may hold an edit for seconds (a 429 flood wait); fired and forgotten, it could arrive
// after the final edit and overwrite the transcript with "Transcribing… 2/3".

export class ProgressReporter {
  private inFlight?: Promise<void>;
  private latest?: { done: number; total: number };
  private stopped = false;

  constructor(
    private readonly show: (done: number, total: number) => Promise<void>,
    private readonly onError: (error: Error) => void,
  ) {}

  /** Shows this progress once the edit in flight (if any) is done; a newer report replaces an older one waiting. */
  report(done: number, total: number): void {
    if (this.stopped) return;
    this.latest = { done, total };
    this.inFlight ??= this.sendAll();
  }

  /** No edit starts after this; resolves when the one in flight has landed or failed. Waiting ones are dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.inFlight;
  }

  private async sendAll(): Promise<void> {
    while (this.latest && !this.stopped) {
      const { done, total } = this.latest;
      this.latest = undefined;
      await this.show(done, total).catch(this.onError);
    }
    this.inFlight = undefined;
  }
}
