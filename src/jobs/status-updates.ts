// A running job's status message: "working", then progress. One edit at a time, the latest wins,
// and none lands after the answer: Telegram may hold an edit for seconds (a 429 flood wait); fired
// and forgotten, it could arrive after the final edit and overwrite the transcript.
//
// Telegram paces each chat (about one message a second; the bot's throttle enforces it), so every
// status edit delays the answer behind it by that much. A note transcribed before `workingAfterMs`
// goes straight from "queued" to its answer, and "working" is shown only to someone kept waiting.

export type StatusUpdate = { kind: 'working' } | { kind: 'progress'; done: number; total: number };

export class StatusUpdates {
  private inFlight?: Promise<void>;
  private latest?: StatusUpdate;
  private stopped = false;
  private progressed = false;
  private workingTimer?: NodeJS.Timeout;

  constructor(
    private readonly show: (update: StatusUpdate) => Promise<void>,
    private readonly onError: (error: Error) => void,
    private readonly workingAfterMs: number,
  ) {}

  /** Work began: "working" is shown after `workingAfterMs`, unless progress or the answer came first. */
  working(): void {
    if (this.stopped || this.workingTimer) return;
    this.workingTimer = setTimeout(() => {
      if (!this.progressed) this.enqueue({ kind: 'working' });
    }, this.workingAfterMs);
  }

  /** Window `done` of `total` is decoded: shown once the edit in flight (if any) is done; a newer report replaces one waiting. */
  progress(done: number, total: number): void {
    this.progressed = true;
    this.enqueue({ kind: 'progress', done, total });
  }

  /** No edit starts after this; resolves when the one in flight has landed or failed. Waiting ones are dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.workingTimer);
    await this.inFlight;
  }

  private enqueue(update: StatusUpdate): void {
    if (this.stopped) return;
    this.latest = update;
    this.inFlight ??= this.sendAll();
  }

  private async sendAll(): Promise<void> {
    while (this.latest && !this.stopped) {
      const update = this.latest;
      this.latest = undefined;
      await this.show(update).catch(this.onError);
    }
    this.inFlight = undefined;
  }
}
