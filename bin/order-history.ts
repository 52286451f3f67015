#!/usr/bin/env node
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { orderTimeline, type TimelineStep } from '../lambdas/domain/journal';
import { orderView } from '../lambdas/domain/ledger';
import { DynamoDbJournal } from '../lambdas/shared/journal-store';
import { DynamoDbOrderStore } from '../lambdas/shared/order-store';
import { cliConfig, parseCommandLine, runCli, UsageError } from './cli-config';

export const USAGE = `usage: npm run order:history -- <orderId> [--json]

  Prints what happened to one order, oldest first, for support: requests accepted, each write
  sent to Stripe (idempotency key, Stripe id, outcome), each Stripe event and what it did.
  Any tenant's order (this reads the tables directly; the API's /history is tenant-scoped).
  Local stack by default; set STRIPE_SECRET_NAME, ORDERS_TABLE_NAME and JOURNAL_TABLE_NAME
  (and AWS credentials) for a deployed stack.

  --json       the timeline as JSON
  -h, --help   this text`;

export interface OrderHistory {
  orderId: string;
  tenantId: string;
  status: string;
  steps: TimelineStep[];
}

export async function orderHistory(deps: { dynamoDb: DynamoDBClient; ordersTableName: string; journalTableName: string }, orderId: string): Promise<OrderHistory | undefined> {
  const order = await new DynamoDbOrderStore(deps.dynamoDb, deps.ordersTableName).getOrder(orderId);
  if (!order) return undefined;
  const entries = await new DynamoDbJournal(deps.dynamoDb, deps.journalTableName).entriesOfOrder(orderId);
  return { orderId, tenantId: order.tenantId, status: orderView(order).status, steps: orderTimeline(order, entries) };
}

export function formatHistory(history: OrderHistory): string {
  const lines = [`Order ${history.orderId} (tenant ${history.tenantId}): ${history.status}`];
  for (const step of history.steps) {
    const d = step.detail;
    const facts =
      step.kind === 'stripe_event'
        ? [d.stripeEventId, d.reason && `reason=${d.reason}`, d.error && `error=${d.error}`, Number(d.attempts) > 1 && `attempts=${d.attempts}`, Number(d.replays) > 0 && `replays=${d.replays}`]
        : step.kind === 'stripe_call'
          ? [d.stripeObjectId, `key=${d.stripeIdempotencyKey}`, Number(d.attempts) > 1 && `attempts=${d.attempts}`, d.error && `error=${d.error}`]
          : Object.entries(d).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v}`);
    lines.push(`  ${step.at}  ${step.kind.padEnd(12)} ${step.what.padEnd(34)} ${step.outcome.padEnd(9)} ${facts.filter(Boolean).join(' ')}`);
  }
  return lines.join('\n');
}

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, { json: { type: 'boolean' } }, true);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'Name one order id.' : `Unexpected argument "${positionals[1]}".`);
  const orderId = positionals[0];
  if (!/^ord_[0-9a-f]{32}$/.test(orderId)) throw new UsageError(`"${orderId}" is not an order id (ord_ and 32 hex digits).`);
  const config = cliConfig();
  const { dynamoDbClient } = await import('../lambdas/shared/aws-clients');
  const dynamoDb = dynamoDbClient();
  try {
    const history = await orderHistory({ dynamoDb, ...config }, orderId);
    if (!history) {
      console.error(`No order ${orderId}.`);
      return 1;
    }
    console.log(values.json ? JSON.stringify(history, null, 2) : formatHistory(history));
    return 0;
  } finally {
    dynamoDb.destroy();
  }
}

if (require.main === module) runCli(USAGE, main);
