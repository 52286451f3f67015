import type {
  DisputeStatus,
  LedgerRefund,
  Order,
  OrderAnomaly,
  OrderStatus,
  PaymentStatus,
  RefundReservation,
  StripeRefundStatus,
} from './order';

/**
 * What each fact from Stripe does to an order, as pure functions of (order, fact). No AWS, no
 * Stripe: the store persists the result with one write conditional on the version the rule saw,
 * so the processor, the refund step, the recovery function and a replay all share these rules.
 *
 * Order independence. Stripe delivers events out of order, several in the same second, and
 * again. Instead of trusting arrival order or timestamps, every fact is merged into a
 * join-semilattice: a refund's status only climbs `refundStatusRank`, a dispute's only
 * `disputeStatusRank`, a payment only `paymentStatusRank`. Merging is commutative, associative
 * and idempotent, so any permutation of any multiset of the same events ends in the same order
 * (test/unit/ledger.test.ts checks that property). No Stripe call is needed per event, which
 * keeps the processor far below Stripe's rate limits (25 requests/s in test mode).
 */

export type Change =
  /** `anomaly`: applied because it is Stripe's truth about our payment, and still worth a human's look. */
  | { kind: 'applied'; order: Order; anomaly?: Omit<OrderAnomaly, 'at' | 'stripeEventId'> }
  /** Already reflected (a duplicate, or an older snapshot of something newer). */
  | { kind: 'stale'; reason: string }
  /** Stripe object is ours but contradicts what we recorded: never applied, recorded on the order. */
  | { kind: 'anomaly'; anomaly: Omit<OrderAnomaly, 'at' | 'stripeEventId'> }
  /** About an object of ours that has not reached the state the fact needs yet: retry later. */
  | { kind: 'notReady'; reason: string };

export const applied = (order: Order): Change => ({ kind: 'applied', order });
const stale = (reason: string): Change => ({ kind: 'stale', reason });
const anomaly = (kind: string, detail: string): Change => ({ kind: 'anomaly', anomaly: { kind, detail } });

// ---------------------------------------------------------------------------------------------
// Derived figures

/**
 * Refund statuses as a lattice, in the order Stripe moves through them: a later report never
 * moves an entry down. Strictly ranked, so every real transition climbs.
 */
export const refundStatusRank: Record<StripeRefundStatus, number> = {
  requires_action: 1,
  pending: 2,
  succeeded: 3,
  failed: 4,
  canceled: 4,
};
export const isStripeRefundStatus = (status: unknown): status is StripeRefundStatus =>
  typeof status === 'string' && Object.hasOwn(refundStatusRank, status);
/** Money that has left, or is on its way: counted as refunded. */
const countsAsRefunded = (status: StripeRefundStatus) => refundStatusRank[status] < 4;

/** An inquiry (warning_*) may escalate to a chargeback; every dispute ends closed. */
export const disputeStatusRank: Record<DisputeStatus, number> = {
  warning_needs_response: 1,
  warning_under_review: 2,
  needs_response: 3,
  under_review: 4,
  warning_closed: 5,
  won: 5,
  lost: 5,
};
export const isDisputeStatus = (status: unknown): status is DisputeStatus => typeof status === 'string' && Object.hasOwn(disputeStatusRank, status);
export const isOpenDispute = (status: DisputeStatus) => disputeStatusRank[status] < 5;
/** Stripe refuses refunds of a charge with an open chargeback (`charge_disputed`); an inquiry does not block them. */
const blocksRefunds = (status: DisputeStatus) => status === 'needs_response' || status === 'under_review';

/** Evidence of payment beats an earlier expiry or failure: a charged customer has a paid order. */
export const paymentStatusRank: Record<PaymentStatus, number> = { pending: 0, expired: 1, failed: 1, paid: 2 };

/** A reservation still holding balance: Stripe's answer is unknown. */
export const isOutstanding = (reservation: RefundReservation) => reservation.stripeRefundId === null && reservation.releasedAt === null;

export interface OrderTotals {
  /** Pending and succeeded Stripe refunds, whoever made them. */
  amountRefunded: number;
  /** Reservations whose Stripe outcome is not known yet: held, but not refunded. */
  amountRefundPending: number;
  /** Taken back by lost disputes. */
  amountDisputeLost: number;
  amountRefundable: number;
  /** A chargeback is open: Stripe refuses refunds until it closes. */
  disputeOpen: boolean;
}

export function orderTotals(order: Order): OrderTotals {
  const amountRefunded = Object.values(order.refunds)
    .filter((r) => countsAsRefunded(r.status))
    .reduce((sum, r) => sum + r.amount, 0);
  const amountRefundPending = Object.values(order.reservations)
    .filter(isOutstanding)
    .reduce((sum, r) => sum + r.amount, 0);
  const disputes = Object.values(order.disputes);
  const amountDisputeLost = disputes.filter((d) => d.status === 'lost').reduce((sum, d) => sum + d.amount, 0);
  const paid = order.paymentStatus === 'paid' ? order.amountTotal : 0;
  return {
    amountRefunded,
    amountRefundPending,
    amountDisputeLost,
    amountRefundable: Math.max(0, paid - amountRefunded - amountRefundPending - amountDisputeLost),
    disputeOpen: disputes.some((d) => blocksRefunds(d.status)),
  };
}

export function orderStatus(order: Order): OrderStatus {
  if (order.paymentStatus !== 'paid') return order.paymentStatus;
  const { amountRefunded } = orderTotals(order);
  if (amountRefunded <= 0) return 'paid';
  return amountRefunded >= order.amountTotal ? 'refunded' : 'partially_refunded';
}

/** Whether the recovery function should look at this order, and from when. */
export function withRecoveryDue(order: Order): Order {
  const due = order.paymentStatus === 'pending' || Object.values(order.reservations).some(isOutstanding);
  const { recoveryDue: _previous, ...rest } = order;
  return due ? { ...rest, recoveryDue: order.orderId } : rest;
}

// ---------------------------------------------------------------------------------------------
// Facts from Stripe

/** What a Checkout Session (from an event, or fetched) says about its payment. */
export interface SessionFact {
  checkoutSessionId: string;
  /** `metadata.tenantId` of the session. */
  tenantId: string | null;
  paymentIntentId: string | null;
  amountTotal: number;
  currency: string;
  /** The payment status this snapshot proves. */
  outcome: PaymentStatus;
}

export function applySessionFact(order: Order, fact: SessionFact): Change {
  if (fact.checkoutSessionId !== order.checkoutSessionId) {
    return anomaly('session_not_the_orders', `session ${fact.checkoutSessionId} is not this order's session ${order.checkoutSessionId}`);
  }
  if (fact.tenantId !== order.tenantId) return anomaly('tenant_mismatch', `session metadata tenant ${fact.tenantId} is not the order's`);
  if (fact.amountTotal !== order.amountTotal || fact.currency !== order.currency) {
    return anomaly('amount_mismatch', `session is ${fact.amountTotal} ${fact.currency}, the order ${order.amountTotal} ${order.currency}`);
  }
  if (fact.paymentIntentId && order.paymentIntentId && fact.paymentIntentId !== order.paymentIntentId) {
    return anomaly('payment_intent_mismatch', `session reports ${fact.paymentIntentId}, the order holds ${order.paymentIntentId}`);
  }
  const learnsIntent = fact.paymentIntentId !== null && order.paymentIntentId === undefined;
  const raisesStatus = paymentStatusRank[fact.outcome] > paymentStatusRank[order.paymentStatus];
  if (!learnsIntent && !raisesStatus) return stale(`order already ${order.paymentStatus}`);
  return applied({
    ...order,
    ...(learnsIntent ? { paymentIntentId: fact.paymentIntentId! } : {}),
    paymentStatus: raisesStatus ? fact.outcome : order.paymentStatus,
  });
}

/** A Stripe refund (from an event, our create call's answer, or a lookup). */
export interface RefundFact {
  stripeRefundId: string;
  paymentIntentId: string | null;
  amount: number;
  currency: string;
  status: StripeRefundStatus;
  /** `metadata.refundId`: which of our reservations asked for it, if any. */
  refundId: string | null;
  created: number;
}

export function applyRefundFact(order: Order, fact: RefundFact): Change {
  if (!order.paymentIntentId) return { kind: 'notReady', reason: 'refund reported before the payment' };
  if (fact.paymentIntentId !== order.paymentIntentId) {
    return anomaly('payment_intent_mismatch', `refund ${fact.stripeRefundId} is of ${fact.paymentIntentId}, not ${order.paymentIntentId}`);
  }
  if (fact.currency !== order.currency) return anomaly('currency_mismatch', `refund ${fact.stripeRefundId} is in ${fact.currency}`);
  // Stripe's refunds of our payment intent always count, whoever made them: Stripe holds the money.
  let reservations = order.reservations;
  let flag: Omit<OrderAnomaly, 'at' | 'stripeEventId'> | undefined;
  const reservation = fact.refundId ? order.reservations[fact.refundId] : undefined;
  if (reservation) {
    if (reservation.stripeRefundId && reservation.stripeRefundId !== fact.stripeRefundId) {
      // Two Stripe refunds for one of our requests (e.g. a retry after Stripe pruned the key).
      flag = { kind: 'duplicate_refund_for_request', detail: `reservation ${reservation.refundId} has ${reservation.stripeRefundId} and ${fact.stripeRefundId}` };
    } else if (reservation.amount !== fact.amount) {
      flag = { kind: 'refund_amount_mismatch', detail: `refund ${fact.stripeRefundId} is ${fact.amount}, reservation ${reservation.refundId} held ${reservation.amount}` };
    }
    // Settles the reservation (also one we had released: Stripe made it after all). With two
    // Stripe refunds for one request, the lowest id wins, so the answer is the same in any order.
    if (!reservation.stripeRefundId || (fact.stripeRefundId < reservation.stripeRefundId && !order.refunds[fact.stripeRefundId])) {
      reservations = { ...reservations, [reservation.refundId]: { ...reservation, stripeRefundId: fact.stripeRefundId, releasedAt: null, releaseReason: null } };
    }
  }
  const known = order.refunds[fact.stripeRefundId];
  if (known && known.amount !== fact.amount) {
    return anomaly('refund_amount_changed', `refund ${fact.stripeRefundId} was ${known.amount}, now ${fact.amount}`);
  }
  const climbs = !known || refundStatusRank[fact.status] > refundStatusRank[known.status];
  if (!climbs && reservations === order.reservations) return stale(`refund ${fact.stripeRefundId} already ${known!.status}`);
  const entry: LedgerRefund = {
    stripeRefundId: fact.stripeRefundId,
    amount: fact.amount,
    status: climbs ? fact.status : known!.status,
    refundId: known?.refundId ?? (reservation ? reservation.refundId : null),
    created: fact.created,
  };
  return { kind: 'applied', order: { ...order, reservations, refunds: { ...order.refunds, [fact.stripeRefundId]: entry } }, ...(flag ? { anomaly: flag } : {}) };
}

export interface DisputeFact {
  disputeId: string;
  paymentIntentId: string | null;
  amount: number;
  currency: string;
  status: DisputeStatus;
  created: number;
}

export function applyDisputeFact(order: Order, fact: DisputeFact): Change {
  if (!order.paymentIntentId) return { kind: 'notReady', reason: 'dispute reported before the payment' };
  if (fact.paymentIntentId !== order.paymentIntentId) {
    return anomaly('payment_intent_mismatch', `dispute ${fact.disputeId} is of ${fact.paymentIntentId}, not ${order.paymentIntentId}`);
  }
  if (fact.currency !== order.currency) return anomaly('currency_mismatch', `dispute ${fact.disputeId} is in ${fact.currency}`);
  const known = order.disputes[fact.disputeId];
  if (known && disputeStatusRank[fact.status] <= disputeStatusRank[known.status]) {
    // Same rank: needs_response vs under_review are both "open"; keep what we have.
    return stale(`dispute ${fact.disputeId} already ${known.status}`);
  }
  return applied({
    ...order,
    disputes: { ...order.disputes, [fact.disputeId]: { disputeId: fact.disputeId, amount: fact.amount, status: fact.status, created: fact.created } },
  });
}

// ---------------------------------------------------------------------------------------------
// Our own refund requests

export type ReserveRefusal =
  | { kind: 'amountInvalid' }
  | { kind: 'notRefundable'; status: OrderStatus }
  | { kind: 'disputeOpen' }
  | { kind: 'exceedsBalance'; refundable: number };

/** Holds `amount` (or the whole refundable balance) for a new refund request. */
export function reserveRefund(
  order: Order,
  request: Omit<RefundReservation, 'amount' | 'stripeRefundId' | 'releasedAt' | 'releaseReason' | 'lastAttemptAt' | 'attempts'> & { amount: number | undefined },
): { kind: 'reserved'; order: Order; reservation: RefundReservation } | ReserveRefusal {
  if (request.amount !== undefined && !(Number.isSafeInteger(request.amount) && request.amount > 0)) return { kind: 'amountInvalid' };
  const totals = orderTotals(order);
  if (totals.disputeOpen) return { kind: 'disputeOpen' };
  if (order.paymentStatus !== 'paid' || totals.amountRefundable <= 0) return { kind: 'notRefundable', status: orderStatus(order) };
  const amount = request.amount ?? totals.amountRefundable;
  if (amount > totals.amountRefundable) return { kind: 'exceedsBalance', refundable: totals.amountRefundable };
  const reservation: RefundReservation = {
    ...request,
    amount,
    stripeRefundId: null,
    releasedAt: null,
    releaseReason: null,
    lastAttemptAt: null,
    attempts: 0,
  };
  return { kind: 'reserved', reservation, order: { ...order, reservations: { ...order.reservations, [reservation.refundId]: reservation } } };
}

/**
 * Marks that we are about to send the create request: from now on its outcome is unknown until
 * resolved. `rotateKey`: Stripe saved the earlier attempt's answer (a 500 is replayed for 24 h)
 * and a look-up proved it made no refund, so this attempt needs a key of its own.
 */
export function markRefundAttempt(order: Order, refundId: string, at: string, rotateKey = false): Change {
  const reservation = order.reservations[refundId];
  if (!reservation || !isOutstanding(reservation)) return stale('reservation settled');
  const attempts = reservation.attempts + 1;
  const stripeIdempotencyKey = rotateKey ? `${reservation.stripeIdempotencyKey.replace(/-r\d+$/, '')}-r${attempts}` : reservation.stripeIdempotencyKey;
  return applied({
    ...order,
    reservations: { ...order.reservations, [refundId]: { ...reservation, lastAttemptAt: at, attempts, stripeIdempotencyKey, updatedAt: at } },
  });
}

/** We know Stripe made no refund for this reservation: its amount is refundable again. */
export function releaseReservation(order: Order, refundId: string, reason: string, at: string): Change {
  const reservation = order.reservations[refundId];
  if (!reservation || !isOutstanding(reservation)) return stale('reservation settled');
  return applied({
    ...order,
    reservations: { ...order.reservations, [refundId]: { ...reservation, releasedAt: at, releaseReason: reason, updatedAt: at } },
  });
}

/** Appends an anomaly (bounded, newest kept), so reconcile and on-call can see it on the order. */
export function recordAnomaly(order: Order, entry: OrderAnomaly, keep = 20): Order {
  if (entry.stripeEventId && order.anomalies.some((a) => a.stripeEventId === entry.stripeEventId && a.kind === entry.kind)) return order;
  return { ...order, anomalies: [...order.anomalies, entry].slice(-keep) };
}

/** The public representation (GET /v1/orders/{id}); internal bookkeeping stays internal. */
export function orderView(order: Order) {
  const totals = orderTotals(order);
  const ledger = Object.values(order.refunds).map((r) => ({
    refundId: r.refundId,
    stripeRefundId: r.stripeRefundId,
    amount: r.amount,
    currency: order.currency,
    status: r.status,
    source: r.refundId ? ('api' as const) : ('outside' as const),
    created: new Date(r.created * 1000).toISOString(),
  }));
  const outstanding = Object.values(order.reservations)
    .filter(isOutstanding)
    .map((r) => ({ refundId: r.refundId, stripeRefundId: null, amount: r.amount, currency: order.currency, status: 'reserved' as const, source: 'api' as const, created: r.createdAt }));
  return {
    orderId: order.orderId,
    status: orderStatus(order),
    currency: order.currency,
    amountTotal: order.amountTotal,
    amountRefunded: totals.amountRefunded,
    amountRefundPending: totals.amountRefundPending,
    amountRefundable: totals.amountRefundable,
    checkoutSessionId: order.checkoutSessionId,
    paymentIntentId: order.paymentIntentId ?? null,
    disputed: Object.keys(order.disputes).length > 0,
    disputes: Object.values(order.disputes).map((d) => ({
      disputeId: d.disputeId,
      amount: d.amount,
      status: d.status,
      outcome: isOpenDispute(d.status) ? ('open' as const) : d.status === 'lost' ? ('lost' as const) : ('won' as const),
    })),
    refunds: [...ledger, ...outstanding].sort((a, b) => a.created.localeCompare(b.created) || String(a.stripeRefundId ?? a.refundId).localeCompare(String(b.stripeRefundId ?? b.refundId))),
    createdAt: order.createdAt,
    updatedAt: order.updatedAt,
  };
}

/** A reservation as POST /v1/refunds reports it. */
export function refundRequestView(order: Order, reservation: RefundReservation) {
  const entry = reservation.stripeRefundId ? order.refunds[reservation.stripeRefundId] : undefined;
  return {
    refundId: reservation.refundId,
    orderId: order.orderId,
    amount: reservation.amount,
    currency: order.currency,
    status: entry?.status ?? (reservation.releasedAt ? 'failed' : 'reserved'),
    stripeRefundId: reservation.stripeRefundId,
  };
}

export type { LedgerRefund };
