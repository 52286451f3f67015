import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import Stripe from 'stripe';
import { LOCAL_CREDENTIALS, LOCAL_TABLE_NAMES } from '../local/dynamodb';
import { startLocalStack, type LocalStack } from '../local/stack';
import { signatureHeader } from '../local/stripe-emulator/webhook-delivery';
import type { StripeObject } from '../local/stripe-emulator/stripe-objects';
import { localToken } from '../local/token';

/**
 * Webhook storm: a population of orders and subscriptions and their real Stripe events (from the emulator),
 * delivered to the webhook route with duplicates, reordering and poison events, at high
 * concurrency. The final orders table is compared with an oracle computed from the event log;
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
  /** Progress and the final table; silent when undefined. */
  log?: (text: string) => void;
  /** Redraws a progress line (a TTY's \r); silent when undefined. */
  progress?: (text: string) => void;
}

export interface StormReport {
  orders: number;
  baseEvents: number;
  delivered: number;
  duplicates: number;
  reordered: number;
  poison: number;
  inDeadLetterQueue: number;
  unexpectedInDeadLetterQueue: number;
  poisonMissingFromDeadLetterQueue: number;
  mismatches: number;
  mismatchExamples: string[];
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

interface Expected {
  paymentStatus: 'pending' | 'paid' | 'expired';
  amountRefunded: number;
  disputed: boolean;
}

/** What the orders must look like after every event applied once, in any order. */
function oracle(events: StripeObject[]): Map<string, Expected> {
  const orderOfIntent = new Map<string, string>();
  const expected = new Map<string, Expected>();
  const of = (orderId: string) => {
    if (!expected.has(orderId)) expected.set(orderId, { paymentStatus: 'pending', amountRefunded: 0, disputed: false });
    return expected.get(orderId)!;
  };
  const object = (e: StripeObject) => (e.data as { object: Record<string, any> }).object;
  for (const e of events.filter((x) => String(x.type).startsWith('checkout.session.'))) {
    const session = object(e);
    const order = of(session.metadata.orderId);
    if (session.payment_intent) orderOfIntent.set(session.payment_intent, session.metadata.orderId);
    if (e.type === 'checkout.session.completed' && session.payment_status === 'paid') order.paymentStatus = 'paid';
    if (e.type === 'checkout.session.expired' && order.paymentStatus === 'pending') order.paymentStatus = 'expired';
  }
  for (const e of events) {
    const o = object(e);
    if (e.type === 'charge.refunded') {
      const order = of(orderOfIntent.get(o.payment_intent)!);
      order.amountRefunded = Math.max(order.amountRefunded, o.amount_refunded);
    }
    if (e.type === 'charge.dispute.created') of(orderOfIntent.get(o.payment_intent)!).disputed = true;
  }
  return expected;
}

export async function runStorm(options: StormOptions): Promise<StormReport> {
  const log = options.log ?? (() => undefined);
  const progress = options.progress ?? (() => undefined);
  const random = prng(options.seed ?? 7);
  const concurrency = options.concurrency ?? 32;
  const rates = { duplicate: options.duplicateRate ?? 0.3, reorder: options.reorderRate ?? 0.2, poison: options.poisonRate ?? 0.05 };
  const baseTarget = Math.max(1, Math.round(options.events / (1 + rates.duplicate + rates.poison)));

  const stack: LocalStack = await startLocalStack({
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
    while (events().length < baseTarget) {
      const batch = Array.from({ length: Math.min(32, Math.ceil((baseTarget - events().length) / 3)) }, () => random());
      await pool(batch, 16, async (fate) => {
        const response = await fetch(`${stack.apiUrl}/v1/checkouts`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, 'Idempotency-Key': randomUUID(), 'Content-Type': 'application/json' },
          body: JSON.stringify({ lineItems: [{ price: price.id, quantity: 1 + Math.floor(fate * 3) }], successUrl: 'https://s.example/', cancelUrl: 'https://s.example/' }),
        });
        const { checkoutSessionId } = (await response.json()) as { checkoutSessionId: string };
        orders++;
        if (fate < 0.7) {
          await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${checkoutSessionId}/complete`, {});
          const paymentIntent = (await stripe.checkout.sessions.retrieve(checkoutSessionId)).payment_intent as string;
          if (fate < 0.3) await stripe.refunds.create({ payment_intent: paymentIntent, amount: 100 + Math.floor(fate * 1000) });
          if (fate < 0.07) await stripe.rawRequest('POST', `/v1/test_helpers/payment_intents/${paymentIntent}/dispute`, {});
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
      // A payment for an order that does not exist: retried, never applicable, dead-lettered.
      const id = `evt_poison${i}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
      poisonIds.add(id);
      const event = { id, object: 'event', type: 'checkout.session.completed', created: Math.floor(Date.now() / 1000), data: { object: { id: `cs_test_poison${i}`, object: 'checkout.session', metadata: { orderId: `ord_${'0'.repeat(24)}${String(i).padStart(8, '0')}` }, payment_status: 'paid', amount_total: 1000, currency: 'eur' } } } as StripeObject;
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
    const expected = oracle(eventLog);
    const documents = DynamoDBDocumentClient.from(stack.dynamoDb.client);
    const actual = new Map<string, Record<string, unknown>>();
    let start: Record<string, unknown> | undefined;
    do {
      const page = await documents.send(new ScanCommand({ TableName: LOCAL_TABLE_NAMES.orders, ExclusiveStartKey: start }));
      for (const item of page.Items ?? []) actual.set(item.orderId as string, item);
      start = page.LastEvaluatedKey;
    } while (start);
    const mismatchExamples: string[] = [];
    let mismatches = 0;
    for (const [orderId, want] of expected) {
      const got = actual.get(orderId);
      const have = got && { paymentStatus: got.paymentStatus, amountRefunded: got.amountRefunded, disputed: got.disputed };
      if (JSON.stringify(have) !== JSON.stringify(want)) {
        mismatches++;
        if (mismatchExamples.length < 5) mismatchExamples.push(`${orderId}: expected ${JSON.stringify(want)}, got ${JSON.stringify(have)}`);
      }
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
    ['orders', r.orders],
    ['Stripe events (distinct)', r.baseEvents],
    ['delivered (with duplicates and poison)', r.delivered],
    ['duplicates absorbed', r.duplicates],
    ['reordered', r.reordered],
    ['poison → DLQ', `${r.poison} → ${r.inDeadLetterQueue}`],
    ['unexpected in DLQ', r.unexpectedInDeadLetterQueue],
    ['orders not matching the oracle', r.mismatches],
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

if (require.main === module) {
  const { values } = parseArgs({ options: { events: { type: 'string', default: '10000' }, concurrency: { type: 'string', default: '32' }, seed: { type: 'string', default: '7' } } });
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const tty = process.stderr.isTTY;
  runStorm({
    events: Number(values.events),
    concurrency: Number(values.concurrency),
    seed: Number(values.seed),
    log: (text) => console.log(text),
    progress: (text) => (tty ? process.stderr.write(`\r\x1b[2K${text}`) : text && process.stderr.write(`${text}\n`)),
  })
    .then((report) => {
      const ok = report.mismatches === 0 && report.subscriptionMismatches === 0 && report.unexpectedInDeadLetterQueue === 0 && report.poisonMissingFromDeadLetterQueue === 0;
      process.exit(ok ? 0 : 1);
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}
