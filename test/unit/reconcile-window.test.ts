import { reconciliationWindow } from '../../bin/reconcile-window';
import { UsageError } from '../../local/cli';

describe('reconcile window', () => {
  const now = new Date('2026-11-23T15:30:00.000Z');

  it('takes a bare --until date as the whole of that day, inclusive', () => {
    expect(reconciliationWindow('2026-11-01', '2026-11-23', now)).toEqual({ since: new Date('2026-11-01T00:00:00.000Z'), until: new Date('2026-11-23T23:59:59.999Z') });
    expect(reconciliationWindow('2026-11-23', '2026-11-23', now).until.getTime() - reconciliationWindow('2026-11-23', '2026-11-23', now).since.getTime()).toBe(86_400_000 - 1);
  });

  it('takes timestamps as given and defaults to the 7 days before now', () => {
    expect(reconciliationWindow('2026-11-01T10:00:00Z', '2026-11-02T10:00:00Z', now)).toEqual({ since: new Date('2026-11-01T10:00:00Z'), until: new Date('2026-11-02T10:00:00Z') });
    expect(reconciliationWindow(undefined, undefined, now)).toEqual({ since: new Date('2026-11-16T15:30:00.000Z'), until: now });
  });

  it.each([
    ['a date that is not one', 'yesterday', undefined],
    ['since after until', '2026-11-24', '2026-11-23'],
  ])('refuses %s as a usage error', (_, since, until) => expect(() => reconciliationWindow(since, until, now)).toThrow(UsageError));
});
