#!/usr/bin/env node
import { defineCli, parseCli, runCli } from '../local/cli';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type Stripe from 'stripe';
import { isOutstanding, orderTotals } from '../lambdas/domain/ledger';
import type { Order, PaymentStatus } from '../lambdas/domain/order';
import { DynamoDbOrderStore } from '../lambdas/shared/order-store';
import { localUrl } from '../local/ports';
import { reconciliationWindow } from './reconcile-window';
import { reconcileSubscriptions, SUBSCRIPTION_DRIFT_MEANING, type SubscriptionDrift } from './reconcile-subscriptions';

/**
 * `npm run reconcile -- [--since 2026-11-01] [--until 2026-11-23] [--json]`: the auditor's view.
 * Lists Stripe's Checkout Sessions, refunds and disputes of the window and compares them with the orders
 * table: Stripe objects with no order, orders whose status disagrees with Stripe, refund totals
 * that differ, Stripe refunds we have no record of. Exits 1 when anything drifted.
 *
 * Configuration is the handlers': STRIPE_SECRET_KEY (+ STRIPE_API_BASE for the emulator) or
 * STRIPE_API_KEY_SECRET_NAME, ORDERS_TABLE_NAME, DYNAMODB_ENDPOINT; with none set, the local stack's
 * defaults (`npm start`).
 */
export type Drift =
  | { kind: 'stripe_session_without_order'; checkoutSessionId: string; orderId: string }
  | { kind: 'order_without_stripe_session'; orderId: string; checkoutSessionId: string }
  | { kind: 'status_mismatch'; orderId: string; checkoutSessionId: string; stripe: PaymentStatus; ours: PaymentStatus }
  | { kind: 'refund_missing_from_ledger'; orderId: string; stripeRefundId: string; amount: number; status: string }
  | { kind: 'refund_status_mismatch'; orderId: string; stripeRefundId: string; stripe: string; ours: string }
  | { kind: 'ledger_refund_not_at_stripe'; orderId: string; stripeRefundId: string }
  | { kind: 'refund_total_mismatch'; orderId: string; paymentIntentId: string; stripe: number; ours: number }
  | { kind: 'duplicate_refund_for_request'; orderId: string; refundId: string; stripeRefundIds: string }
  | { kind: 'unresolved_reservation'; orderId: string; refundId: string; amount: number; since: string }
  | { kind: 'dispute_mismatch'; orderId: string; disputeId: string; stripe: string; ours: string }
  | { kind: 'anomaly'; orderId: string; anomaly: string; stripeEventId: string; detail: string };

export interface ReconciliationReport {
  window: { since: string; until: string };
  /** `olderOrders`: created before the window, checked because a refund or dispute of theirs is in it. */
  checked: { stripeSessions: number; stripeRefunds: number; orders: number; olderOrders: number; foreignSessions: number };
  drift: Drift[];
  /** With `subscriptionsTableName`: subscriptions against Stripe (bin/reconcile-subscriptions.ts). */
  subscriptionDrift: SubscriptionDrift[];
}

/** What the order's stored payment status should be, given the session Stripe has. */
function statusFromStripe(session: Stripe.Checkout.Session): PaymentStatus {
  if (session.payment_status === 'paid' || session.payment_status === 'no_payment_required') return 'paid';
  if (session.status === 'expired') return 'expired';
  return 'pending';
}

/** Events that change money already taken: their order is checked whenever it was created. */
const MONEY_CHANGE_EVENTS = [
  'refund.created', 'refund.updated', 'refund.failed', 'charge.refunded', 'charge.refund.updated',
  'charge.dispute.created', 'charge.dispute.updated', 'charge.dispute.closed', 'charge.dispute.funds_withdrawn', 'charge.dispute.funds_reinstated',
];

/** Reservations older than this with no Stripe outcome should have been resolved by the recovery function. */
const RESERVATION_GRACE_MS = 30 * 60_000;

export async function reconcile(deps: {
  stripe: Stripe; dynamoDb: DynamoDBClient; ordersTableName: string; since: Date; until: Date; now?: Date;
  /** Also compare subscriptions (bin/reconcile-subscriptions.ts): all of them, not only the window's. */
  subscriptionsTableName?: string;
}): Promise<ReconciliationReport> {
  const created = { gte: Math.floor(deps.since.getTime() / 1000), lte: Math.floor(deps.until.getTime() / 1000) };
  const sessions: Stripe.Checkout.Session[] = [];
  for await (const session of deps.stripe.checkout.sessions.list({ created, limit: 100 })) sessions.push(session);

  const documents = DynamoDBDocumentClient.from(deps.dynamoDb);
  const since = deps.since.toISOString();
  const until = deps.until.toISOString();
  const inWindow = (iso: string) => iso >= since && iso <= until;
  // The window's orders, and any older order holding an anomaly (rare: a small read).
  const orders = new Map<string, Order>();
  const olderWithAnomalies: Order[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await documents.send(
      new ScanCommand({
        TableName: deps.ordersTableName,
        FilterExpression: '(createdAt BETWEEN :since AND :until) OR size(anomalies) > :none',
        ExpressionAttributeValues: { ':since': since, ':until': until, ':none': 0 },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of (page.Items ?? []) as Order[]) {
      if (inWindow(item.createdAt)) orders.set(item.orderId, item);
      else olderWithAnomalies.push(item);
    }
    start = page.LastEvaluatedKey;
  } while (start);

  const drift: Drift[] = [];
  let foreignSessions = 0;
  const sessionIds = new Set<string>();
  for (const session of sessions) {
    sessionIds.add(session.id);
    // Only our metadata marks a session as ours; client_reference_id is customer-controlled.
    const orderId = session.metadata?.orderId;
    if (!orderId) {
      foreignSessions++;
      continue;
    }
    const order = orders.get(orderId);
    if (!order) {
      drift.push({ kind: 'stripe_session_without_order', checkoutSessionId: session.id, orderId });
      continue;
    }
    if (order.checkoutSessionId !== session.id) continue; // a session we expired as created by mistake
    const expected = statusFromStripe(session);
    const asyncFailure = order.paymentStatus === 'failed' && expected === 'pending';
    if (order.paymentStatus !== expected && !asyncFailure) {
      drift.push({ kind: 'status_mismatch', orderId, checkoutSessionId: session.id, stripe: expected, ours: order.paymentStatus });
    }
  }

  // An anomaly is reported in the window it was recorded in, whatever the order's age: a
  // later run does not repeat it, and one on a months-old order is not missed.
  for (const order of [...orders.values(), ...olderWithAnomalies]) {
    for (const a of order.anomalies ?? []) {
      if (inWindow(a.at)) drift.push({ kind: 'anomaly', orderId: order.orderId, anomaly: a.kind, stripeEventId: a.stripeEventId ?? '-', detail: a.detail });
    }
  }

  const now = (deps.now ?? new Date()).getTime();
  let stripeRefunds = 0;
  const checkMoney = async (order: Order) => {
    if (!order.paymentIntentId) return;
    const refunds: Stripe.Refund[] = [];
    for await (const refund of deps.stripe.refunds.list({ payment_intent: order.paymentIntentId, limit: 100 })) refunds.push(refund);
    stripeRefunds += refunds.length;
    const byRequest = new Map<string, string[]>();
    for (const refund of refunds) {
      const ours = order.refunds[refund.id];
      if (!ours) drift.push({ kind: 'refund_missing_from_ledger', orderId: order.orderId, stripeRefundId: refund.id, amount: refund.amount, status: refund.status ?? 'pending' });
      else if (ours.status !== refund.status) drift.push({ kind: 'refund_status_mismatch', orderId: order.orderId, stripeRefundId: refund.id, stripe: refund.status ?? 'pending', ours: ours.status });
      const refundId = refund.metadata?.refundId;
      if (refundId) byRequest.set(refundId, [...(byRequest.get(refundId) ?? []), refund.id]);
    }
    for (const [refundId, ids] of byRequest) {
      if (ids.length > 1) drift.push({ kind: 'duplicate_refund_for_request', orderId: order.orderId, refundId, stripeRefundIds: ids.join(',') });
    }
    const atStripeIds = new Set(refunds.map((r) => r.id));
    for (const id of Object.keys(order.refunds)) {
      if (!atStripeIds.has(id)) drift.push({ kind: 'ledger_refund_not_at_stripe', orderId: order.orderId, stripeRefundId: id });
    }
    const atStripe = refunds.filter((r) => r.status !== 'failed' && r.status !== 'canceled').reduce((sum, r) => sum + r.amount, 0);
    const ours = orderTotals(order).amountRefunded;
    if (atStripe !== ours) drift.push({ kind: 'refund_total_mismatch', orderId: order.orderId, paymentIntentId: order.paymentIntentId, stripe: atStripe, ours });
    for (const dispute of (await deps.stripe.disputes.list({ payment_intent: order.paymentIntentId, limit: 100 })).data) {
      const oursDispute = order.disputes[dispute.id];
      if (oursDispute?.status !== dispute.status) {
        drift.push({ kind: 'dispute_mismatch', orderId: order.orderId, disputeId: dispute.id, stripe: dispute.status, ours: oursDispute?.status ?? 'none' });
      }
    }
  };
  for (const order of orders.values()) {
    if (!sessionIds.has(order.checkoutSessionId)) {
      drift.push({ kind: 'order_without_stripe_session', orderId: order.orderId, checkoutSessionId: order.checkoutSessionId });
    }
    await checkMoney(order);
  }

  // A reservation stuck without a Stripe outcome matters whatever the order's age: every one
  // is on the recovery function's work list.
  const store = new DynamoDbOrderStore(deps.dynamoDb, deps.ordersTableName);
  for (const orderId of await store.ordersDueForRecovery()) {
    const order = orders.get(orderId) ?? (await store.getOrder(orderId));
    for (const r of Object.values(order?.reservations ?? {})) {
      if (isOutstanding(r) && now - Date.parse(r.createdAt) > RESERVATION_GRACE_MS) {
        drift.push({ kind: 'unresolved_reservation', orderId, refundId: r.refundId, amount: r.amount, since: r.createdAt });
      }
    }
  }

  // Refunds and disputes come weeks after the payment: the window's refunds and disputes of
  // older orders (found by payment intent) are checked too. Those of no order are not ours.
  const olderChecked = new Set<string>();
  const windowIntents = new Set<string>();
  for await (const refund of deps.stripe.refunds.list({ created, limit: 100 })) if (typeof refund.payment_intent === 'string') windowIntents.add(refund.payment_intent);
  for await (const dispute of deps.stripe.disputes.list({ created, limit: 100 })) if (typeof dispute.payment_intent === 'string') windowIntents.add(dispute.payment_intent);
  // A refund that fails, or a dispute that closes, in the window although created before it: only
  // its event says so (Stripe keeps events 30 days; the lists above cover creations for ever).
  for await (const event of deps.stripe.events.list({ created, types: MONEY_CHANGE_EVENTS, limit: 100 })) {
    const paymentIntent = (event.data.object as { payment_intent?: unknown }).payment_intent;
    if (typeof paymentIntent === 'string') windowIntents.add(paymentIntent);
  }
  for (const paymentIntentId of windowIntents) {
    const orderId = await store.findOrderIdByPaymentIntent(paymentIntentId);
    if (!orderId || orders.has(orderId) || olderChecked.has(orderId)) continue;
    const order = await store.getOrder(orderId);
    if (!order) continue;
    olderChecked.add(orderId);
    await checkMoney(order);
  }

  const subscriptionDrift = deps.subscriptionsTableName ? (await reconcileSubscriptions({ ...deps, subscriptionsTableName: deps.subscriptionsTableName })).drift : [];

  return {
    window: { since: deps.since.toISOString(), until: deps.until.toISOString() },
    checked: { stripeSessions: sessions.length, stripeRefunds, orders: orders.size, olderOrders: olderChecked.size, foreignSessions },
    drift,
    subscriptionDrift,
  };
}

/** What each kind of drift means, for the report and the README. */
export const DRIFT_MEANING: Record<Drift['kind'], string> = {
  stripe_session_without_order: 'Stripe has a session our API created (our metadata) but no order: the order write was lost',
  order_without_stripe_session: 'we have an order whose session Stripe does not list in the window',
  status_mismatch: 'the order\'s payment status differs from its session at Stripe: an event not yet (or never) applied',
  refund_missing_from_ledger: 'Stripe holds a refund of our payment that the ledger lacks: its event was not applied yet',
  refund_status_mismatch: 'a refund\'s status differs from Stripe\'s: a later event not applied yet',
  ledger_refund_not_at_stripe: 'the ledger holds a refund Stripe does not list: investigate at once',
  refund_total_mismatch: 'refunded totals differ from Stripe\'s non-failed refunds',
  duplicate_refund_for_request: 'Stripe made two refunds for one of our refund requests (money refunded twice)',
  unresolved_reservation: 'a refund reservation is older than 30 minutes without a Stripe outcome: the recovery function is not running',
  dispute_mismatch: 'a dispute\'s status differs from Stripe\'s',
  anomaly: 'an event about our order contradicted it and was not applied (see docs/RUNBOOK.md#anomalies)',
};
export { SUBSCRIPTION_DRIFT_MEANING };

export function formatReport(report: ReconciliationReport): string {
  const lines = [
    `Reconciliation ${report.window.since} → ${report.window.until}`,
    `  checked: ${report.checked.stripeSessions} Stripe sessions (${report.checked.foreignSessions} not ours), ${report.checked.stripeRefunds} Stripe refunds, ${report.checked.orders} orders (+${report.checked.olderOrders} older, refunded or disputed in the window)`,
  ];
  const nothingChecked = report.checked.stripeSessions === 0 && report.checked.orders === 0 && report.checked.olderOrders === 0
    && report.drift.length === 0 && report.subscriptionDrift.length === 0;
  if (nothingChecked) return [...lines, '  NOTHING CHECKED: no Stripe session and no order in this window (is it the one you meant?)'].join('\n');
  const all: { kind: string }[] = [...report.drift, ...report.subscriptionDrift];
  if (all.length === 0) return [...lines, '  no drift'].join('\n');
  lines.push(`  DRIFT: ${all.length}`);
  for (const d of all) {
    const { kind, ...details } = d;
    lines.push(`  - ${kind} ${Object.entries(details).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
  return lines.join('\n');
}

const cli = defineCli({
  command: 'npm run reconcile --',
  summary:
    "Compares Stripe's Checkout Sessions and refunds in a window with the orders table; exits 1 on drift.\n" +
    'A bare date is a whole UTC day: --until 2026-11-23 includes all of the 23rd. Configuration is the handlers\'\n' +
    '(STRIPE_SECRET_KEY or STRIPE_API_KEY_SECRET_NAME, ORDERS_TABLE_NAME, AWS credentials); with none set, the local stack.',
  options: {
    since: { type: 'string', value: 'date', description: 'window start (default: 7 days before --until)' },
    until: { type: 'string', value: 'date', description: 'window end, inclusive (default: now)' },
    json: { type: 'boolean', default: false, description: 'print the report as JSON' },
  },
  usesLocalStack: true,
  examples: ['npm run reconcile -- --since 2026-11-01 --until 2026-11-23', 'npm run reconcile -- --json'],
});

async function main(): Promise<number> {
  const { values } = parseCli(cli);
  const { since, until } = reconciliationWindow(values.since, values.until);
  const local = !process.env.STRIPE_SECRET_KEY && !process.env.STRIPE_API_KEY_SECRET_NAME;
  if (local) {
    process.env.STRIPE_SECRET_KEY = 'sk_test_local_emulator';
    process.env.STRIPE_API_BASE ??= localUrl('stripe');
    process.env.DYNAMODB_ENDPOINT ??= localUrl('dynamodb');
    process.env.ORDERS_TABLE_NAME ??= 'payments-orders';
    process.env.SUBSCRIPTIONS_TABLE_NAME ??= 'payments-subscriptions';
    Object.assign(process.env, { AWS_REGION: process.env.AWS_REGION ?? 'us-east-1', AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'local', AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'local' });
  }
  const { stripeClient } = await import('../lambdas/shared/stripe-gateway');
  const { dynamoDbClient } = await import('../lambdas/shared/aws-clients');
  const { requiredEnv } = await import('../lambdas/shared/env');
  const dynamoDb = dynamoDbClient();
  try {
    const report = await reconcile({ stripe: await stripeClient(), dynamoDb, ordersTableName: requiredEnv('ORDERS_TABLE_NAME'), subscriptionsTableName: process.env.SUBSCRIPTIONS_TABLE_NAME, since, until });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.drift.length + report.subscriptionDrift.length > 0 ? 1 : 0;
  } finally {
    dynamoDb.destroy();
  }
}

if (require.main === module) {
  runCli(cli, main, () => `Stripe ${process.env.STRIPE_API_BASE ?? 'API'}, DynamoDB ${process.env.DYNAMODB_ENDPOINT ?? 'AWS'}`);
}
