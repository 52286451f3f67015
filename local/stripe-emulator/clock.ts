/**
 * The emulator's notion of "now" in epoch seconds: real time, optionally shifted forward
 * (so saved idempotency keys age past Stripe's 24 h) or frozen (so a test can force several
 * actions into the same second, as Stripe's events often are).
 */
export class EmulatorClock {
  private frozenAtSeconds: number | null = null;
  private offsetSeconds = 0;

  now(): number {
    return this.frozenAtSeconds ?? Math.floor(Date.now() / 1000) + this.offsetSeconds;
  }

  freeze(atSeconds: number): void {
    this.frozenAtSeconds = atSeconds;
  }

  /** Runs again from where the frozen clock stood, or from the running clock if that is later: never backwards. */
  unfreeze(): void {
    if (this.frozenAtSeconds === null) return;
    this.offsetSeconds = Math.max(this.offsetSeconds, this.frozenAtSeconds - Math.floor(Date.now() / 1000));
    this.frozenAtSeconds = null;
  }

  advance(seconds: number): void {
    if (this.frozenAtSeconds !== null) this.frozenAtSeconds += seconds;
    else this.offsetSeconds += seconds;
  }

  describe() {
    return { object: 'test_helpers.clock', now: this.now(), frozen: this.frozenAtSeconds !== null };
  }
}
