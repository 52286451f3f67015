import { PaymentRejectedError } from './errors';
import type { Order } from './order';
import type { EventOutcome, StripeEvent } from './stripe-events';

/**
 * The journal: what Stripe told us and what we asked Stripe, kept after the queue message and
 * the idempotency record are gone, so support can answer "what happened to this order?" and
 * backfill can tell which of Stripe's events we never processed. Plain types and rules; the
 * DynamoDB adapter is lambdas/shared/journal-store.ts.
 */

/** What became of an event: the processor's outcome, or `failed` (SQS will retry it). */
export type JournaledEventOutcome = EventOutcome | 'failed';

export interface StripeEventRecord {
  stripeEventId: string;
  type: string;
  /** Stripe `created`, epoch seconds. */
  created: number;
  apiVersion: string | null;
  /** The Stripe ids the event is about: its object and what that object points to. */
  objectIds: Record<string, string>;
  orderId: string | null;
  /** When our webhook enqueued it (SQS SentTimestamp): the receiver itself never writes here. */
  receivedAt: string | null;
  processedAt: string;
  outcome: JournaledEventOutcome;
  reason: string | null;
  error: string | null;
  /** The idempotency record answered: the event had been applied before. */
  duplicate: boolean;
  /** Sent by `npm run events:replay`: applied again on purpose. */
  replay: boolean;
  /** The event as JSON, kept for a bounded time (or left at Stripe when too large). */
  payload: string | null;
}

export type StripeCallOperation = 'create_checkout_session' | 'expire_checkout_session' | 'create_refund';
/** succeeded: Stripe answered with its object. rejected: a definitive no. unknown: no answer (timeout, 5xx, saved failure). */
export type StripeCallOutcome = 'succeeded' | 'rejected' | 'unknown';

export interface StripeCallRecord {
  operation: StripeCallOperation;
  orderId: string;
  tenantId: string;
  /** Our id for what the call creates: the order id for a session, the refund id for a refund. */
  ourId: string;
  stripeIdempotencyKey: string | null;
  stripeObjectId: string | null;
  outcome: StripeCallOutcome;
  error: string | null;
  /** When we sent it. */
  at: string;
}

/**
 * The port. Implementations never throw and never block a payment outcome: a journal that
 * cannot be written is logged and counted, and backfill fills the gap (see README, "The journal").
 */
export interface Journal {
  recordEvent(record: StripeEventRecord): Promise<void>;
  recordStripeCall(record: StripeCallRecord): Promise<void>;
}

export const noJournal: Journal = { recordEvent: async () => undefined, recordStripeCall: async () => undefined };

/** Journal entries as read back (the adapter's items). */
export type JournalEntry =
  | ({ kind: 'stripe_event'; attempts: number; replays: number; firstProcessedAt: string } & Omit<StripeEventRecord, 'payload' | 'duplicate' | 'replay'>)
  | ({ kind: 'stripe_call'; attempts: number; firstAt: string } & StripeCallRecord);

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const idOf = (value: unknown): string | undefined =>
  text(value) ?? (typeof value === 'object' && value !== null ? text((value as { id?: unknown }).id) : undefined);

/** The Stripe ids an event names, for search and for the timeline. */
export function stripeObjectIdsOf(event: StripeEvent): Record<string, string> {
  const object = event.data.object;
  const ids: Record<string, string> = {};
  const type = text(object.object);
  const id = text(object.id);
  if (type && id) ids[type] = id;
  for (const field of ['payment_intent', 'charge', 'checkout_session', 'payment_link']) {
    const value = idOf(object[field]);
    if (value) ids[field] = value;
  }
  return ids;
}

export interface TimelineStep {
  at: string;
  kind: 'request' | 'stripe_call' | 'stripe_event';
  /** What happened, in a support agent's words. */
  what: string;
  /** For a request: accepted. For a call: succeeded/rejected/unknown. For an event: applied/stale/… */
  outcome: string;
  detail: Record<string, unknown>;
}

/**
 * Stripe's `created` has whole seconds; our requests have milliseconds. Within its second an
 * event stands where we received it, when that was within the same second; received later
 * (delayed, backfilled) or not known, at the end of its second, after our calls that caused it.
 */
function placeInSecond(createdSeconds: number, receivedAt: string | null): number {
  const start = createdSeconds * 1000;
  const received = receivedAt ? Date.parse(receivedAt) : NaN;
  return received >= start && received < start + 1000 ? received : start + 999;
}

/** Within one millisecond, what we asked precedes what Stripe then reported (Stripe's `created` is whole seconds). */
const RANK = { request: 0, stripe_call: 1, stripe_event: 2 } as const;

/**
 * The order's history: requests we accepted (from the order itself), the calls we sent to
 * Stripe and the events Stripe sent us, oldest first. Events are placed at Stripe's `created`
 * (when it happened), not when we received them: a backfilled event belongs where it happened.
 */
export function orderTimeline(order: Order, entries: readonly JournalEntry[]): TimelineStep[] {
  const calls = entries.filter((e): e is Extract<JournalEntry, { kind: 'stripe_call' }> => e.kind === 'stripe_call');
  const firstCheckoutCall = calls.filter((c) => c.operation === 'create_checkout_session').map((c) => c.firstAt).sort()[0];
  const steps: (TimelineStep & { sortMs: number; tie: string })[] = [];
  const push = (step: TimelineStep, sortMs: number, tie = '') => steps.push({ ...step, sortMs, tie });

  const acceptedAt = firstCheckoutCall && firstCheckoutCall < order.createdAt ? firstCheckoutCall : order.createdAt;
  push({ at: acceptedAt, kind: 'request', what: 'checkout accepted', outcome: 'accepted', detail: { amountTotal: order.amountTotal, currency: order.currency } }, Date.parse(acceptedAt));
  for (const r of Object.values(order.reservations)) {
    push(
      { at: r.createdAt, kind: 'request', what: 'refund requested', outcome: 'accepted', detail: { refundId: r.refundId, amount: r.amount, reason: r.reason } },
      Date.parse(r.createdAt),
    );
  }
  for (const c of calls) {
    push(
      {
        at: c.firstAt,
        kind: 'stripe_call',
        what: c.operation.replaceAll('_', ' '),
        outcome: c.outcome,
        detail: { ourId: c.ourId, stripeIdempotencyKey: c.stripeIdempotencyKey, stripeObjectId: c.stripeObjectId ?? null, attempts: c.attempts, lastAt: c.at, error: c.error ?? null },
      },
      Date.parse(c.firstAt),
    );
  }
  for (const e of entries) {
    if (e.kind !== 'stripe_event') continue;
    const at = new Date(e.created * 1000).toISOString();
    push(
      {
        at,
        kind: 'stripe_event',
        what: e.type,
        outcome: e.outcome,
        detail: {
          stripeEventId: e.stripeEventId,
          objectIds: e.objectIds,
          reason: e.reason,
          error: e.error,
          receivedAt: e.receivedAt,
          processedAt: e.processedAt,
          attempts: e.attempts,
          replays: e.replays,
        },
      },
      placeInSecond(e.created, e.receivedAt),
      `${e.receivedAt ?? ''}|${e.firstProcessedAt}|${e.stripeEventId}`,
    );
  }
  return steps
    .sort((a, b) => a.sortMs - b.sortMs || RANK[a.kind] - RANK[b.kind] || a.tie.localeCompare(b.tie))
    .map(({ sortMs: _sortMs, tie: _tie, ...step }) => step);
}

/**
 * Sends one write to Stripe and journals what came of it. The journal never changes the
 * outcome: the result or the error is passed through unchanged (the adapter never throws).
 */
export async function journaledCall<T>(
  journal: Journal | undefined,
  call: Omit<StripeCallRecord, 'stripeObjectId' | 'outcome' | 'error'>,
  send: () => Promise<T>,
  objectIdOf: (result: T) => string | null,
): Promise<T> {
  if (!journal) return send();
  let result: T;
  try {
    result = await send();
  } catch (error) {
    const outcome = error instanceof PaymentRejectedError ? 'rejected' : 'unknown';
    await journal.recordStripeCall({ ...call, stripeObjectId: null, outcome, error: `${(error as Error).name}: ${(error as Error).message}` });
    throw error;
  }
  await journal.recordStripeCall({ ...call, stripeObjectId: objectIdOf(result), outcome: 'succeeded', error: null });
  return result;
}
