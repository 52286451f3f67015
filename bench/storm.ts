import { defineCli, integerOption, parseCli, runCli } from '../local/cli';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { LOCAL_CREDENTIALS, LOCAL_TABLE_NAMES, type LocalDynamoDb } from '../local/dynamodb';
import { startLocalStack, type LocalStack } from '../local/stack';
import { signatureHeader } from '../local/stripe-emulator/webhook-delivery';
import type { StripeObject } from '../local/stripe-emulator/stripe-objects';
import { localToken } from '../local/token';
import { orderView } from '../lambdas/domain/ledger';
import type { Order } from '../lambdas/domain/order';

/**
 * Webhook storm: a population of orders and subscriptions and their real Stripe events (from the emulator),
 * delivered to the webhook route with duplicates, reordering and poison events, at high
 * concurrency. Every order is then compared with Stripe's own state for it (the emulator);
 * every poison event must be in the DLQ, and nothing else.
 *
 *   npm run storm -- --events 10000 [--concurrency 32] [--seed 7]
 */
export interface StormOptions {
  /** Total deliveries, duplicates and poison included. */
  events: number;
  concurrency?: number;
  seed?: number;
  duplicateRate?: number;
  reorderRate?: number;
  poisonRate?: number;
  /** A database already running (the tests' shared DynamoDB Local); @default DYNAMODB_BACKEND's */
  dynamoDb?: LocalDynamoDb;
  /** Progress and the final table; silent when undefined. */
  log?: (text: string) => void;
  /** Redraws a progress line (a TTY's \r); silent when undefined. */
  progress?: (text: string) => void;
}

export interface StormReport {
  /** The orders table's database, e.g. "DynamoDB Local 3.3.0". */
  database: string;
  orders: number;
  baseEvents: number;
  delivered: number;
  duplicates: number;
  reordered: number;
  poison: number;
  inDeadLetterQueue: number;
  unexpectedInDeadLetterQueue: number;
  poisonMissingFromDeadLetterQueue: number;
  /** Orders Stripe compared with ours field by field: status, refunded, pending, disputes. */
  mismatches: number;
  mismatchExamples: string[];
  /** Payment Link sessions paid that name one of our orders: foreign, so none may write to the order. */
  foreignSessionsNamingOrders: number;
  anomaliesMissed: number;
  /** Subscriptions made through the API (paid, some renewed, some failing, some canceled). */
  subscriptions: number;
  /** Subscription records that differ from Stripe's subscription once settled. */
  subscriptionMismatches: number;
  /** From the first delivery to the last acknowledgement. */
  deliverySeconds: number;
  /** Webhooks acknowledged per second (verified and enqueued). */
  deliveredPerSecond: number;
  /** From the first delivery until every event applied and every poison event sat in the DLQ (5 receives at a 1 s visibility timeout). */
  settledSeconds: number;
  concurrency: number;
}

const WEBHOOK_SECRET = 'whsec_storm';

/** Deterministic random numbers (mulberry32): the same storm for the same seed. */
export function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function pool<T>(items: T[], concurrency: number, work: (item: T, index: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index], index);
      }
    }),
  );
}

/** What an order must look like: Stripe's own state for it (the emulator), never our event log. */
interface Expected {
  status: string;
  amountRefunded: number;
  amountRefundPending: number;
  disputes: string[];
}

function stripeTruth(stripe: NonNullable<LocalStack['stripe']>, order: { checkoutSessionId: string }): Expected {
  const session = stripe.state.sessions.get(order.checkoutSessionId)!;
  const intent = session.payment_intent as string | null;
  const refunds = [...stripe.state.refunds.values()].filter((r) => intent && r.payment_intent === intent);
  const amountRefunded = refunds.filter((r) => r.status !== 'failed' && r.status !== 'canceled').reduce((sum, r) => sum + (r.amount as number), 0);
  const paid = session.payment_status === 'paid';
  const status = !paid ? (session.status === 'expired' ? 'expired' : 'pending') : amountRefunded === 0 ? 'paid' : amountRefunded >= (session.amount_total as number) ? 'refunded' : 'partially_refunded';
  const disputes = [...stripe.state.disputes.values()].filter((d) => intent && d.payment_intent === intent).map((d) => `${d.id}:${d.status}`).sort();
  return { status, amountRefunded, amountRefundPending: 0, disputes };
}

export async function runStorm(options: StormOptions): Promise<StormReport> {
  const log = options.log ?? (() => undefined);
  const progress = options.progress ?? (() => undefined);
  const random = prng(options.seed ?? 7);
  const concurrency = options.concurrency ?? 32;
  const rates = { duplicate: options.duplicateRate ?? 0.3, reorder: options.reorderRate ?? 0.2, poison: options.poisonRate ?? 0.05 };
  const baseTarget = Math.max(1, Math.round(options.events / (1 + rates.duplicate + rates.poison)));

  const stack: LocalStack = await startLocalStack({
    dynamoDb: options.dynamoDb,
    ports: { api: 0, stripe: 0, sqs: 0, dynamodb: 0 },
    webhookSecret: WEBHOOK_SECRET,
    deliverWebhooks: false, // the storm delivers, with its own duplicates and disorder
    // An event that needs a predecessor (a refund before its payment) is retried until the
    // predecessor applies; maxReceiveCount × visibility must outlast the backlog, as it does in
    // AWS (5 × 180 s). Locally the backlog grows with the storm, so the timeout does too.
    queueVisibilitySeconds: Math.max(1, Math.ceil(options.events / 300)),
    pollers: 4,
  });
  try {
    const { hostname, port } = new URL(stack.stripeUrl!);
    const stripe = new Stripe('sk_test_storm', { host: hostname, port, protocol: 'http', maxNetworkRetries: 3 });
    const token = localToken('storm', 'generator');
    const price = await stripe.prices.create({ currency: 'eur', unit_amount: 1000, product_data: { name: 'Storm' } });

    // 1. The population: orders through the API, then what happens to them at Stripe.
    log(`Creating orders and their Stripe events (target ${baseTarget} events)...`);
    const events = () => stack.stripe!.state.events;
    let orders = 0;
    const population: { orderId: string; checkoutSessionId: string }[] = [];
    const foreignNamed = new Set<string>();
    while (events().length < baseTarget) {
      const batch = Array.from({ length: Math.min(32, Math.ceil((baseTarget - events().length) / 3)) }, () => random());
      await pool(batch, 16, async (fate) => {
        const response = await fetch(`${stack.apiUrl}/v1/checkouts`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, 'Idempotency-Key': randomUUID(), 'Content-Type': 'application/json' },
          body: JSON.stringify({ lineItems: [{ price: price.id, quantity: 1 + Math.floor(fate * 3) }], successUrl: 'https://s.example/', cancelUrl: 'https://s.example/' }),
        });
        const { orderId, checkoutSessionId } = (await response.json()) as { orderId: string; checkoutSessionId: string };
        population.push({ orderId, checkoutSessionId });
        orders++;
        const helper = (path: string, params: Record<string, unknown> = {}) => stripe.rawRequest('POST', `/v1/test_helpers/${path}`, params);
        if (fate < 0.05) {
          // Someone pays a Payment Link naming this order (?client_reference_id=): foreign, never applied.
          const link = await stripe.paymentLinks.create({ line_items: [{ price: price.id, quantity: 1 }] });
          const foreign = (await helper(`payment_links/${link.id}/checkout`, { client_reference_id: orderId })) as unknown as { id: string };
          await helper(`checkout/sessions/${foreign.id}/complete`);
          foreignNamed.add(orderId);
        }
        if (fate < 0.7) {
          await helper(`checkout/sessions/${checkoutSessionId}/complete`);
          const paymentIntent = (await stripe.checkout.sessions.retrieve(checkoutSessionId)).payment_intent as string;
          // Outside refunds (the Dashboard: no metadata of ours); some bounce later.
          if (fate < 0.3) {
            const refund = await stripe.refunds.create({ payment_intent: paymentIntent, amount: 100 + Math.floor(fate * 1000) });
            if (fate < 0.12) await helper(`refunds/${refund.id}/fail`);
          }
          if (fate < 0.07) {
            const dispute = (await helper(`payment_intents/${paymentIntent}/dispute`)) as unknown as { id: string };
            if (fate < 0.05) await helper(`disputes/${dispute.id}/close`, { outcome: fate < 0.03 ? 'lost' : 'won' });
          }
        } else if (fate < 0.9) {
          await stripe.checkout.sessions.expire(checkoutSessionId);
        }
      });
      progress(`  orders ${orders}, events ${events().length}/${baseTarget}`);
    }
    // Subscribers: one each, paid; every third renews, every third fails a renewal, every fourth cancels at period end.
    const subscriptionPrice = await stripe.prices.create({ currency: 'eur', unit_amount: 900, recurring: { interval: 'month' }, product_data: { name: 'Storm plan' } });
    const subscribers = Math.max(3, Math.round(baseTarget / 60));
    await pool(Array.from({ length: subscribers }, (_, i) => i), 8, async (i) => {
      const headers = { Authorization: `Bearer ${localToken('storm', `subscriber-${i}`)}`, 'Content-Type': 'application/json' };
      const opened = await fetch(`${stack.apiUrl}/v1/subscriptions`, {
        method: 'POST', headers: { ...headers, 'Idempotency-Key': randomUUID() },
        body: JSON.stringify({ price: subscriptionPrice.id, successUrl: 'https://s.example/', cancelUrl: 'https://s.example/' }),
      });
      const { checkoutSessionId } = (await opened.json()) as { checkoutSessionId: string };
      await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${checkoutSessionId}/complete`, {});
      const stripeSubscriptionId = (await stripe.checkout.sessions.retrieve(checkoutSessionId)).subscription as string;
      if (i % 3 === 0) await stripe.rawRequest('POST', `/v1/test_helpers/subscriptions/${stripeSubscriptionId}/renew`, {});
      if (i % 3 === 1) await stripe.rawRequest('POST', `/v1/test_helpers/subscriptions/${stripeSubscriptionId}/renew`, { outcome: 'failed' });
      // Cancel through Stripe (as the portal would): our API could not know the subscription before its events apply.
      if (i % 4 === 0) await stripe.subscriptions.update(stripeSubscriptionId, { cancel_at_period_end: true });
    });
    const eventLog = [...events()];
    progress('');

    // 2. The delivery plan: every event once, some again, some out of place, some poison.
    const plan: { event: StripeObject; kind: 'event' | 'duplicate' | 'poison' }[] = eventLog.map((event) => ({ event, kind: 'event' }));
    let reordered = 0;
    for (let i = 0; i < plan.length; i++) {
      if (random() < rates.reorder) {
        const j = i + 1 + Math.floor(random() * (plan.length - i - 1));
        if (j < plan.length) {
          [plan[i], plan[j]] = [plan[j], plan[i]];
          reordered++;
        }
      }
    }
    const duplicates = Math.round(eventLog.length * rates.duplicate);
    for (let i = 0; i < duplicates; i++) {
      const event = eventLog[Math.floor(random() * eventLog.length)];
      plan.splice(Math.floor(random() * (plan.length + 1)), 0, { event, kind: 'duplicate' });
    }
    const poisonIds = new Set<string>();
    const poisonCount = Math.round(eventLog.length * rates.poison);
    for (let i = 0; i < poisonCount; i++) {
      // Signed, but not a Stripe event (no type, no object): never applicable, dead-lettered. (A
      // session naming an order we never wrote is foreign: acknowledged, not poison.)
      const id = `evt_poison${i}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
      poisonIds.add(id);
      const event = { id, object: 'event', created: Math.floor(Date.now() / 1000) } as unknown as StripeObject;
      plan.splice(Math.floor(random() * (plan.length + 1)), 0, { event, kind: 'poison' });
    }

    // 3. The storm.
    log(`Delivering ${plan.length} webhooks at concurrency ${concurrency}...`);
    const started = Date.now();
    let delivered = 0;
    await pool(plan, concurrency, async ({ event }) => {
      const payload = JSON.stringify(event);
      for (let attempt = 1; ; attempt++) {
        const response = await fetch(`${stack.apiUrl}/v1/webhooks/stripe`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signatureHeader(payload, WEBHOOK_SECRET) },
          body: payload,
        });
        await response.arrayBuffer();
        if (response.ok) break;
        if (attempt >= 5) throw new Error(`Webhook ${event.id} refused ${attempt} times (${response.status})`);
      }
      if (++delivered % 50 === 0 || delivered === plan.length) progress(bar('delivered', delivered, plan.length));
    });
    const deliverySeconds = (Date.now() - started) / 1000;
    progress('');

    // 4. Wait until the queue is drained and every poison event has been dead-lettered.
    const sqs = new SQSClient({ endpoint: stack.sqsUrl, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
    const depth = async (QueueUrl: string) => {
      const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
      return Number(Attributes!.ApproximateNumberOfMessages) + Number(Attributes!.ApproximateNumberOfMessagesNotVisible);
    };
    const deadline = Date.now() + 120_000 + plan.length * 20;
    for (;;) {
      const [pending, dead] = [await depth(stack.queueUrl), await depth(stack.deadLetterQueueUrl)];
      progress(`  processing: ${pending} in the queue, ${dead}/${poisonIds.size} poison in the DLQ`);
      if (pending === 0 && dead >= poisonIds.size) break;
      if (Date.now() > deadline) throw new Error(`Not settled: ${pending} still queued, ${dead} in the DLQ`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const settledSeconds = (Date.now() - started) / 1000;
    progress('');

    // 5. Compare with the oracle, and the DLQ with the poison list.
    const documents = DynamoDBDocumentClient.from(stack.dynamoDb.client);
    const actual = new Map<string, Order>();
    let start: Record<string, unknown> | undefined;
    do {
      const page = await documents.send(new ScanCommand({ TableName: LOCAL_TABLE_NAMES.orders, ExclusiveStartKey: start }));
      for (const item of page.Items ?? []) actual.set(item.orderId as string, item as Order);
      start = page.LastEvaluatedKey;
    } while (start);
    const mismatchExamples: string[] = [];
    let mismatches = 0;
    let anomaliesMissed = 0;
    for (const { orderId, checkoutSessionId } of population) {
      const want = stripeTruth(stack.stripe!, { checkoutSessionId });
      const got = actual.get(orderId);
      const view = got && orderView(got);
      const have = view && { status: view.status, amountRefunded: view.amountRefunded, amountRefundPending: view.amountRefundPending, disputes: view.disputes.map((d) => `${d.disputeId}:${d.status}`).sort() };
      if (JSON.stringify(have) !== JSON.stringify(want)) {
        mismatches++;
        if (mismatchExamples.length < 5) mismatchExamples.push(`${orderId}: Stripe says ${JSON.stringify(want)}, we say ${JSON.stringify(have)}`);
      }
      // Foreign: counted and acknowledged, never written to the order (not even as an anomaly).
      if (foreignNamed.has(orderId) && (got?.anomalies.length ?? 0) > 0) anomaliesMissed++;
    }
    let subscriptionMismatches = 0;
    const subscriptionItems: Record<string, unknown>[] = [];
    start = undefined;
    do {
      const page: { Items?: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> } = await documents.send(new ScanCommand({ TableName: LOCAL_TABLE_NAMES.subscriptions, ExclusiveStartKey: start }));
      subscriptionItems.push(...(page.Items ?? []).filter((item) => String(item.pk).startsWith('subscription#')));
      start = page.LastEvaluatedKey;
    } while (start);
    for (const item of subscriptionItems) {
      const atStripe = stack.stripe!.state.billing.subscriptions.get(String(item.stripeSubscriptionId));
      const want = atStripe && {
        status: atStripe.status, cancelAtPeriodEnd: atStripe.cancel_at_period_end,
        currentPeriodEnd: (atStripe.items as { data: { current_period_end: number }[] }).data[0].current_period_end,
      };
      const have = { status: item.status, cancelAtPeriodEnd: item.cancelAtPeriodEnd, currentPeriodEnd: item.currentPeriodEnd };
      if (JSON.stringify(have) !== JSON.stringify(want)) {
        subscriptionMismatches++;
        if (mismatchExamples.length < 10) mismatchExamples.push(`${String(item.subscriptionId)}: expected ${JSON.stringify(want)}, got ${JSON.stringify(have)}`);
      }
    }
    if (subscriptionItems.length !== subscribers) {
      subscriptionMismatches += Math.abs(subscribers - subscriptionItems.length);
      mismatchExamples.push(`${subscribers} subscribers, ${subscriptionItems.length} subscription records`);
    }

    const deadIds = new Set<string>();
    for (let empty = 0; empty < 3; ) {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.deadLetterQueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30, MessageAttributeNames: ['All'] }));
      if (Messages.length === 0) empty++;
      for (const m of Messages) deadIds.add(m.MessageAttributes?.stripeEventId?.StringValue ?? `(no id) ${m.MessageId}`);
    }
    sqs.destroy();

    const report: StormReport = {
      database: stack.dynamoDb.description,
      orders,
      baseEvents: eventLog.length,
      delivered: plan.length,
      duplicates,
      reordered,
      poison: poisonIds.size,
      inDeadLetterQueue: deadIds.size,
      unexpectedInDeadLetterQueue: [...deadIds].filter((id) => !poisonIds.has(id)).length,
      poisonMissingFromDeadLetterQueue: [...poisonIds].filter((id) => !deadIds.has(id)).length,
      mismatches,
      mismatchExamples,
      foreignSessionsNamingOrders: foreignNamed.size,
      anomaliesMissed,
      subscriptions: subscribers,
      subscriptionMismatches,
      deliverySeconds,
      deliveredPerSecond: Math.round(plan.length / deliverySeconds),
      settledSeconds,
      concurrency,
    };
    log(table(report));
    return report;
  } finally {
    await stack.stop();
  }
}

function bar(label: string, done: number, total: number) {
  const width = 30;
  const filled = Math.round((done / total) * width);
  return `  ${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

function table(r: StormReport) {
  const rows: [string, string | number][] = [
    ['database', r.database],
    ['orders', r.orders],
    ['Stripe events (distinct)', r.baseEvents],
    ['delivered (with duplicates and poison)', r.delivered],
    ['duplicates absorbed', r.duplicates],
    ['reordered', r.reordered],
    ['poison → DLQ', `${r.poison} → ${r.inDeadLetterQueue}`],
    ['unexpected in DLQ', r.unexpectedInDeadLetterQueue],
    ['orders not matching Stripe', r.mismatches],
    ['foreign sessions naming an order', r.foreignSessionsNamingOrders],
    ['… that wrote to the order anyway', r.anomaliesMissed],
    ['subscriptions (via the API)', r.subscriptions],
    ['subscriptions not matching Stripe', r.subscriptionMismatches],
    ['delivery (s)', r.deliverySeconds.toFixed(1)],
    ['webhooks acknowledged/s', r.deliveredPerSecond],
    ['until settled, DLQ included (s)', r.settledSeconds.toFixed(1)],
    ['concurrency', r.concurrency],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return ['', ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`), ...r.mismatchExamples.map((m) => `  ! ${m}`), ''].join('\n');
}

const cli = defineCli({
  command: 'npm run storm --',
  summary:
    'Webhook storm: builds orders and their real Stripe events, delivers them with duplicates, reordering and\n' +
    'poison events, then checks the orders table against an oracle and the DLQ against the poison. Starts its\n' +
    'own local stack on free ports (no `npm start` needed). Exits 1 when anything disagrees.',
  options: {
    events: { type: 'string', value: 'n', default: '10000', description: 'deliveries in total, duplicates and poison included' },
    concurrency: { type: 'string', value: 'n', default: '32', description: 'webhook deliveries in flight at once' },
    seed: { type: 'string', value: 'n', default: '7', description: 'the same seed makes the same storm' },
  },
  examples: ['npm run storm -- --events 2000 --concurrency 16'],
});

if (require.main === module) {
  const { values } = parseCli(cli);
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const tty = process.stderr.isTTY;
  runCli(cli, async () => {
    const report = await runStorm({
      events: integerOption('events', values.events, 1),
      concurrency: integerOption('concurrency', values.concurrency, 1),
      seed: integerOption('seed', values.seed),
      log: (text) => console.log(text),
      progress: (text) => (tty ? process.stderr.write(`\r\x1b[2K${text}`) : text && process.stderr.write(`${text}\n`)),
    });
    const ok = report.mismatches === 0 && report.anomaliesMissed === 0 && report.subscriptionMismatches === 0 && report.unexpectedInDeadLetterQueue === 0 && report.poisonMissingFromDeadLetterQueue === 0;
    return ok ? 0 : 1;
  });
}
