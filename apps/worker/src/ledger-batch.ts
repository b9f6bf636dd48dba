import type { Logger, TickLedger, TickLedgerEntry } from '@drumline/core/runtime';

/** How long an event may wait for others before it is written; a full call goes at once. */
export const LEDGER_FLUSH_MS = 100;
const FULL = 500;

/**
 * Appends the tick-ledger events of the last LEDGER_FLUSH_MS in one call, and nobody waits for it:
 * off the path from a run's claim to its handler and from its end to its slot's next run. Written
 * inside the claim script instead, 500 starts made every run of a 500-run tick start 8 ms later;
 * flushed every turn of the event loop, runs ending one by one each paid a call (pnpm bench,
 * schedule-precision). An event lost to a crash before its flush loses only a line of the ledger.
 */
export class LedgerBatch {
  private pending: TickLedgerEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly ledger: TickLedger,
    private readonly logger: Pick<Logger, 'warn'>,
  ) {}

  note(entry: TickLedgerEntry): void {
    this.pending.push(entry);
    if (this.pending.length >= FULL) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), LEDGER_FLUSH_MS).unref();
  }

  /** Resolves once every event noted so far is written or given up on: a shutdown waits for it. */
  async settled(): Promise<void> {
    this.flush();
    await Promise.all(this.inFlight);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const sent: Promise<void> = this.ledger
      .append(batch)
      .catch((error: unknown) => this.logger.warn({ err: error, events: batch.length }, 'recording runs in the tick ledger failed'))
      .finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
  }
}
