import { PaymentRejectedError, RefundInProgressError } from './errors';
import { derivedId, stripeIdempotencyKey, type IdempotentRequest } from './idempotency-scope';
import { applied, applyRefundFact, isOutstanding, markRefundAttempt, releaseReservation, reserveRefund, type Change } from './ledger';
import { journaledCall, type Journal } from './journal';
import type { Order, RefundReason, RefundReservation } from './order';
import type { OrderStore, PaymentGateway } from './ports';
import { validateRequestBody } from './validation';

export interface RefundRequest {
  orderId: string;
  /** Minor units; absent means the whole refundable balance. */
  amount?: number;
  reason?: RefundReason;
}

/** Schema check of POST /v1/refunds (docs/openapi.yaml). A non-positive amount is a business outcome, not a schema error. */
export function parseRefundRequest(body: unknown): RefundRequest {
  return validateRequestBody<RefundRequest>('RefundRequest', body);
}

export type RefundOutcome =
  | { kind: 'created'; order: Order; reservation: RefundReservation }
  | { kind: 'orderNotFound' }
  | { kind: 'notRefundable'; status: string }
  | { kind: 'disputeOpen' }
  | { kind: 'amountInvalid' }
  | { kind: 'exceedsBalance'; refundable: number }
  | { kind: 'keyReused' }
  | { kind: 'rejected'; message: string; code: string | undefined };

/**
 * How long after an attempt a retry that found no refund at Stripe uses a new key. Longer than
 * any request can still be executing at Stripe (our client gives up after about 25 s), so a slow
 * first attempt can never complete next to the new one.
 */
export const RESEND_WITH_NEW_KEY_AFTER_MS = 60_000;

/** A reservation released for this reason was refused by Stripe; any other release may be retried. */
export const STRIPE_REFUSED = 'stripe_refused';

export interface RefundDeps {
  gateway: PaymentGateway;
  orders: OrderStore;
  now: () => Date;
  /** Where each call to Stripe is recorded. @default none */
  journal?: Journal;
}

/**
 * Refunds part or all of a paid order, exactly once per idempotency scope:
 * 1. reserve the amount on the order (a rule in ledger.ts, one conditional write), so
 *    concurrent refunds with different keys can never together exceed what is refundable;
 * 2. if an earlier attempt may have reached Stripe, look for its refund at Stripe first
 *    (matched on metadata.refundId): Stripe prunes idempotency keys after 24 h, so the key
 *    alone cannot be trusted to prevent a second refund;
 * 3. claim the attempt (a compare-and-set on the reservation, so the recovery function and a
 *    client retry never both send), ask Stripe with a key derived from the scope, and record
 *    Stripe's refund in the ledger. A definitive "no" releases the reservation; an unknown
 *    outcome keeps it as "refund pending" for the retry or the recovery function to resolve.
 */
export async function createRefund({ scope, payload, fingerprint }: IdempotentRequest<RefundRequest>, deps: RefundDeps): Promise<RefundOutcome> {
  const order = await deps.orders.getOrder(payload.orderId);
  if (!order || order.tenantId !== scope.tenantId) return { kind: 'orderNotFound' };
  const refundId = derivedId('refund', scope);
  // The reservation lives on one order, so it cannot see the same key used for another order:
  // a claim per request id can (finding: one key refunding two orders after records expired).
  const earlier = await deps.orders.claimRequest(refundId, { orderId: order.orderId, requestFingerprint: fingerprint });
  if (earlier && (earlier.orderId !== order.orderId || earlier.requestFingerprint !== fingerprint)) return { kind: 'keyReused' };
  const existing = order.reservations[refundId];
  if (existing && existing.requestFingerprint !== fingerprint) return { kind: 'keyReused' };
  if (existing?.stripeRefundId) return { kind: 'created', order, reservation: existing };
  if (existing?.releasedAt && existing.releaseReason === STRIPE_REFUSED) {
    return { kind: 'rejected', message: 'Stripe refused this refund earlier', code: undefined };
  }
  if (!existing || existing.releasedAt) {
    if (payload.amount !== undefined && payload.amount <= 0) return { kind: 'amountInvalid' };
    const refusal = await reserve(order.orderId, refundId, scope, payload, fingerprint, deps);
    if (refusal) return refusal;
  }
  return sendReservedRefund(order.orderId, refundId, deps);
}

async function reserve(
  orderId: string,
  refundId: string,
  scope: IdempotentRequest<RefundRequest>['scope'],
  payload: RefundRequest,
  fingerprint: string,
  deps: RefundDeps,
): Promise<RefundOutcome | undefined> {
  let refusal: RefundOutcome | undefined;
  const now = deps.now().toISOString();
  await deps.orders.mutate(
    orderId,
    (order) => {
      refusal = undefined;
      const present = order.reservations[refundId];
      if (present && !present.releasedAt) return { kind: 'stale', reason: 'reserved by an earlier attempt' };
      const outcome = reserveRefund(order, {
        refundId,
        amount: payload.amount,
        reason: payload.reason ?? null,
        // A request Stripe never executed may be asked again; a fresh key, because Stripe may
        // have saved the earlier attempt's 500 under the old one for 24 h.
        stripeIdempotencyKey: present ? `${stripeIdempotencyKey('refund', scope)}-after-${Date.parse(present.releasedAt!)}` : stripeIdempotencyKey('refund', scope),
        requestFingerprint: fingerprint,
        createdAt: present?.createdAt ?? now,
        updatedAt: now,
      });
      if (outcome.kind === 'reserved') {
        if (!present?.lastAttemptAt) return applied(outcome.order);
        // Asked again after a release: an earlier attempt existed, so the send looks up first.
        const again = { ...outcome.reservation, lastAttemptAt: present.lastAttemptAt };
        return applied({ ...outcome.order, reservations: { ...outcome.order.reservations, [refundId]: again } });
      }
      refusal = outcome;
      return { kind: 'stale', reason: outcome.kind };
    },
    null,
  );
  return refusal;
}

/**
 * Steps 2–3 for a reservation that holds balance. Also what the recovery function runs for a
 * reservation whose outcome stayed unknown (`resolveOnly`: look up and release, never send).
 */
export async function sendReservedRefund(
  orderId: string,
  refundId: string,
  deps: RefundDeps,
  options: { resolveOnly?: boolean; minAgeMs?: number } = {},
): Promise<RefundOutcome> {
  let order = (await deps.orders.getOrder(orderId))!;
  let reservation = order.reservations[refundId];
  if (!reservation || !isOutstanding(reservation)) return settled(order, refundId);
  const seenAttemptAt = reservation.lastAttemptAt;
  // The recovery function decided on an older read: an attempt made since may still be in flight
  // at Stripe, and a look-up now could miss it and release a refund that is happening.
  const since = Date.parse(seenAttemptAt ?? reservation.createdAt);
  if (options.resolveOnly && options.minAgeMs !== undefined && deps.now().getTime() - since < options.minAgeMs) return settled(order, refundId);
  if (seenAttemptAt !== null || options.resolveOnly) {
    const found = await deps.gateway.findRefunds(order.paymentIntentId!, refundId);
    if (found.length > 0) {
      for (const fact of found) await deps.orders.mutate(orderId, (o) => applyRefundFact(o, fact), null);
      return settled((await deps.orders.getOrder(orderId))!, refundId);
    }
    if (options.resolveOnly) {
      // Stripe holds no refund for it: nothing left; the balance is free again. A client retry
      // with the same key may still ask again (the request was never executed).
      await deps.orders.mutate(orderId, (o) => claimAttempt(o, refundId, seenAttemptAt, (x) => releaseReservation(x, refundId, 'not_found_at_stripe', deps.now().toISOString())), null);
      return settled((await deps.orders.getOrder(orderId))!, refundId);
    }
  }
  // A look-up found nothing: if the earlier attempt has surely finished at Stripe, its saved
  // answer (e.g. a 500) must not be replayed to us again: send with a new key.
  const rotateKey = seenAttemptAt !== null && deps.now().getTime() - Date.parse(seenAttemptAt) >= RESEND_WITH_NEW_KEY_AFTER_MS;
  const claim = await deps.orders.mutate(
    orderId,
    (o) => claimAttempt(o, refundId, seenAttemptAt, (x) => markRefundAttempt(x, refundId, deps.now().toISOString(), rotateKey)),
    null,
  );
  if (claim.kind !== 'applied') return settled((await deps.orders.getOrder(orderId))!, refundId);
  order = claim.order;
  reservation = order.reservations[refundId];

  let fact;
  try {
    const sent = { order, reservation };
    fact = await journaledCall(
      deps.journal,
      { operation: 'create_refund', orderId, tenantId: order.tenantId, ourId: refundId, stripeIdempotencyKey: reservation.stripeIdempotencyKey, at: deps.now().toISOString() },
      () =>
        deps.gateway.createRefund(
          {
            paymentIntentId: sent.order.paymentIntentId!,
            amount: sent.reservation.amount,
            reason: sent.reservation.reason,
            metadata: { orderId, tenantId: sent.order.tenantId, refundId },
          },
          sent.reservation.stripeIdempotencyKey,
        ),
      (created) => created.stripeRefundId,
    );
  } catch (error) {
    if (!(error instanceof PaymentRejectedError)) throw error; // unknown outcome: keep the reservation
    if (error.code === 'charge_disputed') {
      // A chargeback our ledger has not heard of yet: the contract's 409, and the same request
      // may be asked again once the dispute closes.
      await deps.orders.mutate(orderId, (o) => releaseReservation(o, refundId, 'dispute_open', deps.now().toISOString()), null);
      return { kind: 'disputeOpen' };
    }
    await deps.orders.mutate(orderId, (o) => releaseReservation(o, refundId, STRIPE_REFUSED, deps.now().toISOString()), null);
    return { kind: 'rejected', message: error.message, code: error.code };
  }
  await deps.orders.mutate(orderId, (o) => applyRefundFact(o, fact), null);
  return settled((await deps.orders.getOrder(orderId))!, refundId);
}

/**
 * Runs `change` only if nobody claimed the reservation since we read it: another actor that
 * moved `lastAttemptAt` is sending (or has sent) the request itself.
 */
function claimAttempt(order: Order, refundId: string, seenAttemptAt: string | null, change: (order: Order) => Change): Change {
  const reservation = order.reservations[refundId];
  if (!reservation || !isOutstanding(reservation)) return { kind: 'stale', reason: 'reservation settled' };
  if (reservation.lastAttemptAt !== seenAttemptAt) return { kind: 'stale', reason: 'another attempt holds the reservation' };
  return change(order);
}

function settled(order: Order, refundId: string): RefundOutcome {
  const reservation = order.reservations[refundId];
  if (reservation?.stripeRefundId) return { kind: 'created', order, reservation };
  if (reservation?.releasedAt && reservation.releaseReason === STRIPE_REFUSED) {
    return { kind: 'rejected', message: 'Stripe refused this refund', code: undefined };
  }
  // Still outstanding (someone else is sending it) or released as never executed: the
  // outcome is not final for this request; the client retries with the same key.
  throw new RefundInProgressError(refundId);
}
