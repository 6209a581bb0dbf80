/** What the report screen shows next to the form. */
export type AutosaveState = "saved" | "pending" | "saving" | "error";

export interface AutosaveOptions<T, R> {
  /** Persists one value; called with values in the order they were scheduled, one at a time. */
  save: (value: T) => Promise<R>;
  /** Quiet time after the last change before saving (~400 ms). */
  delayMs?: number;
  onSaved?: (result: R, value: T) => void;
  onError?: (error: unknown, value: T) => void;
  onState?: (state: AutosaveState) => void;
}

/**
 * Debounced, strictly ordered autosave. Changes within `delayMs` of each other
 * coalesce into one save of the newest value; a save never starts while
 * another is in flight, so the last value typed is always the last one
 * written. `flush()` saves now and resolves once everything typed so far is
 * stored (before signing, submitting or leaving the screen).
 */
export class Autosave<T, R = unknown> {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private waiting: { value: T } | null = null;
  private inFlight: Promise<void> | null = null;
  private lastError: unknown = null;
  private _state: AutosaveState = "saved";
  private readonly delayMs: number;

  constructor(private readonly options: AutosaveOptions<T, R>) {
    this.delayMs = options.delayMs ?? 400;
  }

  get state(): AutosaveState {
    return this._state;
  }

  /** Records a change; it is saved after the quiet time. */
  schedule(value: T): void {
    this.waiting = { value };
    this.setState("pending");
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.drain();
    }, this.delayMs);
  }

  /** Saves whatever is waiting now; rejects if the last save failed. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    await this.drain();
    if (this._state === "error") throw this.lastError;
  }

  /** Drops a waiting change (the screen is going away without saving, e.g. read-only). */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.waiting = null;
    if (!this.inFlight) this.setState("saved");
  }

  private async drain(): Promise<void> {
    // One loop at a time: a second caller waits for the running one, then
    // saves whatever was typed meanwhile.
    while (this.inFlight) await this.inFlight;
    if (!this.waiting) return;
    const run = this.runAll();
    this.inFlight = run;
    try {
      await run;
    } finally {
      this.inFlight = null;
    }
  }

  private async runAll(): Promise<void> {
    while (this.waiting && !this.timer) {
      const { value } = this.waiting;
      this.waiting = null;
      this.setState("saving");
      try {
        const result = await this.options.save(value);
        this.lastError = null;
        this.options.onSaved?.(result, value);
        if (!this.waiting) this.setState("saved");
        else if (this.timer) this.setState("pending");
      } catch (error) {
        this.lastError = error;
        // Keep the unsaved value so the next change or a retry writes it.
        if (!this.waiting) this.waiting = { value };
        this.setState("error");
        this.options.onError?.(error, value);
        return;
      }
    }
  }

  /** Tries the failed save again. */
  retry(): Promise<void> {
    return this.flush();
  }

  private setState(state: AutosaveState) {
    if (state === this._state) return;
    this._state = state;
    this.options.onState?.(state);
  }
}
