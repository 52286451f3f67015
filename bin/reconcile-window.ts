import { UsageError } from '../local/cli';

/**
 * The window a reconciliation covers. A bare date names a whole UTC day: `--since` starts at its
 * first millisecond and `--until` ends at its last (inclusive), so `--until <today>` includes
 * today. Full timestamps are taken as they are. The default is the last 7 days up to now.
 */
export function reconciliationWindow(since: string | undefined, until: string | undefined, now = new Date()): { since: Date; until: Date } {
  const parse = (name: string, raw: string, endOfDay: boolean) => {
    const bareDate = /^\d{4}-\d{2}-\d{2}$/.test(raw);
    const date = new Date(bareDate ? `${raw}T00:00:00.000Z` : raw);
    if (Number.isNaN(date.getTime())) throw new UsageError(`--${name} takes an ISO date or timestamp, e.g. 2026-11-01 or 2026-11-01T12:00:00Z; got "${raw}"`);
    return bareDate && endOfDay ? new Date(date.getTime() + 86_400_000 - 1) : date;
  };
  const end = until === undefined ? now : parse('until', until, true);
  const start = since === undefined ? new Date(end.getTime() - 7 * 86_400_000) : parse('since', since, false);
  if (start.getTime() > end.getTime()) throw new UsageError(`--since (${start.toISOString()}) is after --until (${end.toISOString()})`);
  return { since: start, until: end };
}
