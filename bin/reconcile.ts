#!/usr/bin/env node
import { defineCli, parseCli, runCli } from '../local/cli';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type Stripe from 'stripe';
import { localUrl } from '../local/ports';
import { reconciliationWindow } from './reconcile-window';
import { isReleasedRefund, type Order, type PaymentStatus, type RefundStatus } from '../lambdas/domain/order';

/**
 * `npm run reconcile -- [--since 2026-11-01] [--until 2026-11-23] [--json]`: the auditor's view.
 * Lists Stripe's Checkout Sessions and refunds for the window and compares them with the orders
 * table: Stripe objects with no order, orders whose status disagrees with Stripe, refund totals
 * that differ, Stripe refunds we have no record of. Exits 1 when anything drifted.
 *
 * Configuration is the handlers': STRIPE_SECRET_KEY (+ STRIPE_API_BASE for the emulator) or
 * STRIPE_SECRET_NAME, ORDERS_TABLE_NAME, DYNAMODB_ENDPOINT; with none set, the local stack's
 * defaults (`npm start`).
 */
export type Drift =
  | { kind: 'stripe_session_without_order'; checkoutSessionId: string; orderId: string }
  | { kind: 'order_without_stripe_session'; orderId: string; checkoutSessionId: string }
  | { kind: 'status_mismatch'; orderId: string; checkoutSessionId: string; stripe: PaymentStatus; ours: PaymentStatus }
  | { kind: 'refund_total_mismatch'; orderId: string; paymentIntentId: string; stripe: number; ours: number }
  | { kind: 'refund_without_record'; orderId: string; stripeRefundId: string; refundId: string };

export interface ReconciliationReport {
  window: { since: string; until: string };
  checked: { stripeSessions: number; stripeRefunds: number; orders: number; foreignSessions: number };
  drift: Drift[];
}

/** What the order's stored payment status should be, given the session Stripe has. */
function statusFromStripe(session: Stripe.Checkout.Session): PaymentStatus {
  if (session.payment_status === 'paid' || session.payment_status === 'no_payment_required') return 'paid';
  if (session.status === 'expired') return 'expired';
  return 'pending';
}

const refundedAtStripe = (refunds: Stripe.Refund[]) =>
  refunds.filter((r) => !isReleasedRefund((r.status ?? 'pending') as RefundStatus)).reduce((sum, r) => sum + r.amount, 0);

export async function reconcile(deps: { stripe: Stripe; dynamoDb: DynamoDBClient; ordersTableName: string; since: Date; until: Date }): Promise<ReconciliationReport> {
  const created = { gte: Math.floor(deps.since.getTime() / 1000), lte: Math.floor(deps.until.getTime() / 1000) };
  const sessions: Stripe.Checkout.Session[] = [];
  for await (const session of deps.stripe.checkout.sessions.list({ created, limit: 100 })) sessions.push(session);

  const documents = DynamoDBDocumentClient.from(deps.dynamoDb);
  const orders = new Map<string, Order>();
  let start: Record<string, unknown> | undefined;
  do {
    const page = await documents.send(
      new ScanCommand({
        TableName: deps.ordersTableName,
        FilterExpression: 'createdAt BETWEEN :since AND :until',
        ExpressionAttributeValues: { ':since': deps.since.toISOString(), ':until': deps.until.toISOString() },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) orders.set(item.orderId as string, item as Order);
    start = page.LastEvaluatedKey;
  } while (start);

  const drift: Drift[] = [];
  let foreignSessions = 0;
  const sessionIds = new Set<string>();
  for (const session of sessions) {
    sessionIds.add(session.id);
    const orderId = session.metadata?.orderId ?? session.client_reference_id ?? undefined;
    if (!orderId) {
      foreignSessions++; // created by something else on this Stripe account
      continue;
    }
    const order = orders.get(orderId);
    if (!order) {
      drift.push({ kind: 'stripe_session_without_order', checkoutSessionId: session.id, orderId });
      continue;
    }
    const expected = statusFromStripe(session);
    const asyncFailure = order.paymentStatus === 'failed' && expected === 'pending';
    if (order.paymentStatus !== expected && !asyncFailure) {
      drift.push({ kind: 'status_mismatch', orderId, checkoutSessionId: session.id, stripe: expected, ours: order.paymentStatus });
    }
  }

  let stripeRefunds = 0;
  for (const order of orders.values()) {
    if (!sessionIds.has(order.checkoutSessionId)) {
      drift.push({ kind: 'order_without_stripe_session', orderId: order.orderId, checkoutSessionId: order.checkoutSessionId });
    }
    if (!order.paymentIntentId) continue;
    const refunds: Stripe.Refund[] = [];
    for await (const refund of deps.stripe.refunds.list({ payment_intent: order.paymentIntentId, limit: 100 })) refunds.push(refund);
    stripeRefunds += refunds.length;
    const atStripe = refundedAtStripe(refunds);
    if (atStripe !== order.amountRefunded) {
      drift.push({ kind: 'refund_total_mismatch', orderId: order.orderId, paymentIntentId: order.paymentIntentId, stripe: atStripe, ours: order.amountRefunded });
    }
    for (const refund of refunds) {
      const refundId = refund.metadata?.refundId;
      if (refundId && !order.refunds[refundId]) drift.push({ kind: 'refund_without_record', orderId: order.orderId, stripeRefundId: refund.id, refundId });
    }
  }

  return {
    window: { since: deps.since.toISOString(), until: deps.until.toISOString() },
    checked: { stripeSessions: sessions.length, stripeRefunds, orders: orders.size, foreignSessions },
    drift,
  };
}

export function formatReport(report: ReconciliationReport): string {
  const lines = [
    `Reconciliation ${report.window.since} → ${report.window.until}`,
    `  checked: ${report.checked.stripeSessions} Stripe sessions (${report.checked.foreignSessions} not ours), ${report.checked.stripeRefunds} Stripe refunds, ${report.checked.orders} orders`,
  ];
  const nothingChecked = report.checked.stripeSessions === 0 && report.checked.orders === 0;
  if (nothingChecked) return [...lines, '  NOTHING CHECKED: no Stripe session and no order in this window (is it the one you meant?)'].join('\n');
  if (report.drift.length === 0) return [...lines, '  no drift'].join('\n');
  lines.push(`  DRIFT: ${report.drift.length}`);
  for (const d of report.drift) {
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
    '(STRIPE_SECRET_KEY or STRIPE_SECRET_NAME, ORDERS_TABLE_NAME, AWS credentials); with none set, the local stack.',
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
  const local = !process.env.STRIPE_SECRET_KEY && !process.env.STRIPE_SECRET_NAME;
  if (local) {
    process.env.STRIPE_SECRET_KEY = 'sk_test_local_emulator';
    process.env.STRIPE_API_BASE ??= localUrl('stripe');
    process.env.DYNAMODB_ENDPOINT ??= localUrl('dynamodb');
    process.env.ORDERS_TABLE_NAME ??= 'payments-orders';
    Object.assign(process.env, { AWS_REGION: process.env.AWS_REGION ?? 'us-east-1', AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'local', AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'local' });
  }
  const { stripeClient } = await import('../lambdas/shared/stripe-gateway');
  const { dynamoDbClient } = await import('../lambdas/shared/aws-clients');
  const { requiredEnv } = await import('../lambdas/shared/env');
  const dynamoDb = dynamoDbClient();
  try {
    const report = await reconcile({ stripe: await stripeClient(), dynamoDb, ordersTableName: requiredEnv('ORDERS_TABLE_NAME'), since, until });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.drift.length > 0 ? 1 : 0;
  } finally {
    dynamoDb.destroy();
  }
}

if (require.main === module) {
  runCli(cli, main, () => `Stripe ${process.env.STRIPE_API_BASE ?? 'API'}, DynamoDB ${process.env.DYNAMODB_ENDPOINT ?? 'AWS'}`);
}
