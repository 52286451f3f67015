import { defineCli, parseCli, runCli } from '../local/cli';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { clearCaches } from '@aws-lambda-powertools/parameters';
import { mockClient } from 'aws-sdk-client-mock';
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import * as path from 'node:path';
import Stripe from 'stripe';
import { ESM_REQUIRE_BANNER } from '../lib/constructs/payments-function';
import { apiGatewayProxyEvent } from '../local/api-gateway-event';
import { chooseDynamoDbBackend, createTables, LOCAL_CREDENTIALS, LOCAL_TABLE_NAMES, startLocalDynamoDb, type DynamoDbBackend } from '../local/dynamodb';
import { lambdaContext } from '../local/lambda-context';
import { QueuePoller } from '../local/queue-poller';
import { startSqsEmulator } from '../local/sqs-emulator/server';
import { startLocalStack } from '../local/stack';
import { startStripeEmulator } from '../local/stripe-emulator/server';
import { signatureHeader } from '../local/stripe-emulator/webhook-delivery';
import * as stripeObjects from '../local/stripe-emulator/stripe-objects';
import { localToken } from '../local/token';

/**
 * `npm run bench`: figures, not assertions. Writes bench-report.json and bench-report.md and
 * prints them. Every ratio compares two things measured in the same run on the same machine.
 */
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.AWS_REGION ??= 'us-east-1';
Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' });

const ROOT = path.join(__dirname, '..');
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const round = (n: number, digits = 2) => Number(n.toFixed(digits));
const section = (title: string) => process.stderr.write(`· ${title}\n`);

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => { while (next < items.length) await work(items[next++]); }));
}

/** What each backend reported itself as, e.g. "DynamoDB Local 3.3.0", for the report's header. */
const databaseDescriptions: Partial<Record<DynamoDbBackend, string>> = {};

/** 1. AWS and Stripe calls per operation, counted with SDK middleware and the emulator's log. */
async function callsPerOperation(backend: DynamoDbBackend) {
  section(`calls per operation (${backend})`);
  clearCaches(); // a cold container for every backend
  const db = await startLocalDynamoDb({ backend });
  databaseDescriptions[backend] = db.description;
  await createTables(db.client);
  const sqsEmulator = await startSqsEmulator();
  const stripeEmulator = await startStripeEmulator();
  const counts = new Map<string, number>();
  const counted = <C extends DynamoDBClient | SQSClient>(client: C, service: string) => {
    (client as DynamoDBClient).middlewareStack.add((next) => async (args) => { counts.set(service, (counts.get(service) ?? 0) + 1); return next(args); }, { step: 'initialize', name: `count-${service}` });
    return client;
  };
  const dynamoDb = counted(db.newClient(), 'DynamoDB');
  const sqs = counted(new SQSClient({ endpoint: sqsEmulator.url, region: 'us-east-1', credentials: LOCAL_CREDENTIALS }), 'SQS');
  // Secrets Manager as deployed: the handlers' own Powertools cache in front of a (mocked) service.
  const secretsManager = mockClient(SecretsManagerClient);
  // A key per run: the gateway caches one Stripe client per key, bound to this run's emulator.
  secretsManager.on(GetSecretValueCommand, { SecretId: 'payments/bench/stripe-api-key' }).resolves({ SecretString: JSON.stringify({ apiKey: `sk_test_bench_${backend.replace('-', '_')}` }) });
  secretsManager.on(GetSecretValueCommand, { SecretId: 'payments/bench/stripe-webhook' }).resolves({ SecretString: JSON.stringify({ signingSecrets: ['whsec_bench'] }) });
  for (const name of ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET']) delete process.env[name];
  process.env.STRIPE_API_KEY_SECRET_NAME = 'payments/bench/stripe-api-key';
  process.env.STRIPE_WEBHOOK_SECRET_NAME = 'payments/bench/stripe-webhook';
  process.env.STRIPE_API_BASE = stripeEmulator.url;
  process.env.STRIPE_MAX_NETWORK_RETRIES = '1';
  const { QueueUrl: queueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'bench-events' }));
  counts.clear();

  const [{ createCheckoutHandler }, { createRefundsHandler }, { createWebhookHandler }, { createEventProcessor }, { StripePaymentGateway }, { webhookSigningSecrets }] = await Promise.all([
    import('../lambdas/checkout/create-checkout-handler'),
    import('../lambdas/refunds/create-refunds-handler'),
    import('../lambdas/webhooks/create-webhook-handler'),
    import('../lambdas/events/create-event-processor'),
    import('../lambdas/shared/stripe-gateway'),
    import('../lambdas/shared/stripe-secrets'),
  ]);
  const tables = { dynamoDb, ordersTableName: LOCAL_TABLE_NAMES.orders, idempotencyTableName: LOCAL_TABLE_NAMES.idempotency };
  const gateway = new StripePaymentGateway();
  let release: () => void = () => undefined;
  let gate: Promise<void> | undefined;
  const gatedGateway = Object.assign(Object.create(gateway) as typeof gateway, { createCheckoutSession: async (...args: Parameters<typeof gateway.createCheckoutSession>) => { await gate; return gateway.createCheckoutSession(...args); } });
  const checkout = createCheckoutHandler({ ...tables, gateway: gatedGateway });
  const refunds = createRefundsHandler({ ...tables, gateway });
  const webhooks = createWebhookHandler({ sqs, queueUrl: queueUrl!, webhookSigningSecrets });
  const processor = createEventProcessor({ ...tables, stripe: gateway });

  const stripe = new Stripe('sk_test_bench', { host: '127.0.0.1', port: new URL(stripeEmulator.url).port, protocol: 'http' });
  const price = await stripe.prices.create({ currency: 'eur', unit_amount: 1000, product_data: { name: 'Bench' } });
  const claims = { 'custom:tenant_id': 'bench', sub: 'bench', token_use: 'id', aud: 'local-client' };
  const event = (p: string, body: unknown, key: string) =>
    apiGatewayProxyEvent({ method: 'POST', path: p, resource: p, headers: { 'Content-Type': ['application/json'], 'Idempotency-Key': [key] }, body: JSON.stringify(body), claims });
  const checkoutBody = { lineItems: [{ price: price.id, quantity: 1 }], successUrl: 'https://s.example/', cancelUrl: 'https://s.example/' };

  const stripeCalls = () => stripeEmulator.state.requests.filter((r) => !r.path.startsWith('/v1/test_helpers')).length;
  const measure = async (work: () => Promise<unknown>) => {
    const before = { ...Object.fromEntries(counts), Stripe: stripeCalls(), SecretsManager: secretsManager.calls().length };
    await work();
    const after = { ...Object.fromEntries(counts), Stripe: stripeCalls(), SecretsManager: secretsManager.calls().length };
    return Object.fromEntries(['DynamoDB', 'SQS', 'SecretsManager', 'Stripe'].map((k) => [k, ((after as any)[k] ?? 0) - ((before as any)[k] ?? 0)]));
  };
  const context = () => lambdaContext('bench');
  const rows: Record<string, Record<string, number>> = {};

  const firstKey = randomUUID();
  rows['first checkout, cold container'] = await measure(() => checkout(event('/v1/checkouts', checkoutBody, firstKey), context()));
  const secondKey = randomUUID();
  let firstResponse: any;
  rows['first checkout, warm'] = await measure(async () => (firstResponse = await checkout(event('/v1/checkouts', checkoutBody, secondKey), context())));
  rows['replay'] = await measure(() => checkout(event('/v1/checkouts', checkoutBody, secondKey), context()));
  const inFlightKey = randomUUID();
  gate = new Promise<void>((resolve) => (release = resolve));
  const running = checkout(event('/v1/checkouts', checkoutBody, inFlightKey), context());
  await new Promise((resolve) => setTimeout(resolve, 100));
  rows['in-flight duplicate (409)'] = await measure(() => checkout(event('/v1/checkouts', checkoutBody, inFlightKey), context()));
  release();
  gate = undefined;
  await running;

  // A paid order for the refund and the processor rows.
  const sessionId = JSON.parse(firstResponse.body).checkoutSessionId;
  await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${sessionId}/complete`, {});
  const completed = stripeEmulator.state.events.find((e) => e.type === 'checkout.session.completed')!;
  const body = JSON.stringify(completed);
  clearCaches(); // a new container: the webhook function does not share the checkout's cache
  rows['webhook receipt, cold container'] = await measure(() =>
    webhooks(apiGatewayProxyEvent({ method: 'POST', path: '/v1/webhooks/stripe', resource: '/v1/webhooks/stripe', headers: { 'Content-Type': ['application/json'], 'Stripe-Signature': [signatureHeader(body, 'whsec_bench')] }, body })),
  );
  rows['webhook receipt, warm'] = await measure(() =>
    webhooks(apiGatewayProxyEvent({ method: 'POST', path: '/v1/webhooks/stripe', resource: '/v1/webhooks/stripe', headers: { 'Content-Type': ['application/json'], 'Stripe-Signature': [signatureHeader(body, 'whsec_bench')] }, body })),
  );
  const record = (b: string) => ({ Records: [{ messageId: randomUUID(), receiptHandle: 'r', body: b, attributes: {} as any, messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: 'arn:aws:sqs:us-east-1:0:q', awsRegion: 'us-east-1' }] });
  rows['processor, checkout.session.completed'] = await measure(() => processor(record(body), context()));
  rows['processor, duplicate event'] = await measure(() => processor(record(body), context()));
  rows['first refund'] = await measure(() => refunds(event('/v1/refunds', { orderId: JSON.parse(firstResponse.body).orderId, amount: 100 }, randomUUID()), context()));
  const refundCreated = stripeEmulator.state.events.find((e) => e.type === 'refund.created')!;
  rows['processor, refund.created (index lookup)'] = await measure(() => processor(record(JSON.stringify(refundCreated)), context()));
  // A refund made in the Dashboard whose event arrives before the payment's: the order is found
  // through Stripe (the payment intent, then the order's own session), not retried.
  const early = JSON.parse((await checkout(event('/v1/checkouts', checkoutBody, randomUUID()), context())).body) as { checkoutSessionId: string };
  await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${early.checkoutSessionId}/complete`, {});
  const earlyIntent = (await stripe.checkout.sessions.retrieve(early.checkoutSessionId)).payment_intent as string;
  await stripe.refunds.create({ payment_intent: earlyIntent, amount: 100 });
  const earlyRefund = stripeEmulator.state.events.filter((e) => e.type === 'refund.created').at(-1)!;
  rows['processor, refund before its payment (Stripe look-up)'] = await measure(() => processor(record(JSON.stringify(earlyRefund)), context()));
  // Someone else's session (a Payment Link naming no order of ours): acknowledged, nothing written.
  const foreign = await stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: price.id, quantity: 1 }], success_url: 'https://s.example/', client_reference_id: 'ord_00000000000000000000000000000000' });
  await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${foreign.id}/complete`, {});
  const foreignCompleted = stripeEmulator.state.events.filter((e) => e.type === 'checkout.session.completed').at(-1)!;
  rows['processor, foreign session'] = await measure(() => processor(record(JSON.stringify(foreignCompleted)), context()));

  secretsManager.restore();
  for (const name of ['STRIPE_API_KEY_SECRET_NAME', 'STRIPE_WEBHOOK_SECRET_NAME', 'STRIPE_API_BASE', 'STRIPE_MAX_NETWORK_RETRIES']) delete process.env[name];
  dynamoDb.destroy();
  sqs.destroy();
  await stripeEmulator.close();
  await sqsEmulator.close();
  await db.close();
  return rows;
}

/** 2. Bundle bytes and cold import time per handler, against a minimal SQS handler. */
async function bundles() {
  section('bundles and cold imports');
  const outdir = mkdtempSync(path.join(tmpdir(), 'bench-bundles-'));
  const entries: Record<string, string> = {
    'minimal SQS handler (yardstick)': path.join(ROOT, 'bench', 'minimal-sqs-handler.ts'),
    ...Object.fromEntries(['checkout', 'orders', 'refunds', 'webhooks', 'events'].map((h) => [h, path.join(ROOT, 'lambdas', h, 'handler.ts')])),
  };
  const env = { ...process.env, ORDERS_TABLE_NAME: 't', IDEMPOTENCY_TABLE_NAME: 't', EVENTS_QUEUE_URL: 'https://sqs.local/q', STRIPE_API_KEY_SECRET_NAME: 's', STRIPE_WEBHOOK_SECRET_NAME: 's', AWS_REGION: 'us-east-1' };
  const results: Record<string, { bytes: number; coldImportMs: number }> = {};
  for (const [name, entry] of Object.entries(entries)) {
    const outfile = path.join(outdir, `${name.split(' ')[0]}.mjs`);
    // The options PaymentsFunction gives NodejsFunction (lib/constructs/payments-function.ts).
    await build({
      entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node22', minify: true, mainFields: ['module', 'main'],
      banner: { js: ESM_REQUIRE_BANNER },
      logLevel: 'silent',
    });
    const samples = Array.from({ length: 9 }, () =>
      Number(execFileSync(process.execPath, ['--input-type=module', '-e', `const t = performance.now(); await import(${JSON.stringify(outfile)}); process.stdout.write(String(performance.now() - t));`], { env }).toString()),
    );
    results[name] = { bytes: statSync(outfile).size, coldImportMs: round(percentile(samples, 50)) };
  }
  rmSync(outdir, { recursive: true, force: true });
  const yardstick = results['minimal SQS handler (yardstick)'];
  return Object.fromEntries(Object.entries(results).map(([name, r]) => [name, { ...r, bytesRatio: round(r.bytes / yardstick.bytes), importRatio: round(r.coldImportMs / yardstick.coldImportMs) }]));
}

/** 3. Webhook acknowledgement latency against a bare SendMessage, same queue, same run. */
async function webhookLatency(samples = 400) {
  section('webhook ack latency');
  const sqsEmulator = await startSqsEmulator();
  const sqs = new SQSClient({ endpoint: sqsEmulator.url, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'latency' }));
  const { createWebhookHandler } = await import('../lambdas/webhooks/create-webhook-handler');
  const webhooks = createWebhookHandler({ sqs, queueUrl: QueueUrl!, webhookSigningSecrets: async () => ['whsec_bench'] });
  const body = JSON.stringify(stripeObjects.event('checkout.session.completed', stripeObjects.checkoutSession({ amountTotal: 1000, currency: 'eur', successUrl: 'https://s.example', cancelUrl: null, clientReferenceId: 'ord_x', customerEmail: null, metadata: { orderId: 'ord_x' }, paymentUrlBase: 'http://x' }), { id: null, idempotencyKey: null }));
  const bare: number[] = [];
  const ack: number[] = [];
  for (let i = 0; i < samples; i++) {
    let t = performance.now();
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
    bare.push(performance.now() - t);
    const proxyEvent = apiGatewayProxyEvent({ method: 'POST', path: '/v1/webhooks/stripe', resource: '/v1/webhooks/stripe', headers: { 'Content-Type': ['application/json'], 'Stripe-Signature': [signatureHeader(body, 'whsec_bench')] }, body });
    t = performance.now();
    await webhooks(proxyEvent);
    ack.push(performance.now() - t);
  }
  sqs.destroy();
  await sqsEmulator.close();
  return {
    samples,
    bareSendMessageMs: { p50: round(percentile(bare, 50)), p99: round(percentile(bare, 99)) },
    webhookAckMs: { p50: round(percentile(ack, 50)), p99: round(percentile(ack, 99)) },
    ratio: { p50: round(percentile(ack, 50) / percentile(bare, 50)), p99: round(percentile(ack, 99) / percentile(bare, 99)) },
  };
}

/** 4. Processor drain rate with batch size 10 and 1: the same events, fresh tables each time. */
async function drainRates(backend: DynamoDbBackend, eventsPerRun = 600) {
  section('processor drain rate');
  const results: Record<string, number> = {};
  for (const batchSize of [10, 1]) {
    const db = await startLocalDynamoDb({ backend });
    await createTables(db.client);
    const sqsEmulator = await startSqsEmulator();
    const sqs = new SQSClient({ endpoint: sqsEmulator.url, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'drain', Attributes: { VisibilityTimeout: '30' } }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    const { DynamoDbOrderStore } = await import('../lambdas/shared/order-store');
    const { createEventProcessor } = await import('../lambdas/events/create-event-processor');
    const store = new DynamoDbOrderStore(db.client, LOCAL_TABLE_NAMES.orders);
    const bodies: string[] = [];
    for (let i = 0; i < eventsPerRun; i++) {
      const orderId = `ord_${randomUUID().replace(/-/g, '')}`;
      const now = new Date().toISOString();
      const session = { ...stripeObjects.checkoutSession({ amountTotal: 1000, currency: 'eur', successUrl: 'https://s.example', cancelUrl: null, clientReferenceId: orderId, customerEmail: null, metadata: { orderId, tenantId: 't' }, paymentUrlBase: 'http://x' }), status: 'complete', payment_status: 'paid', payment_intent: `pi_${i}` };
      await store.createOrder({ orderId, tenantId: 't', userId: 'u', version: 1, paymentStatus: 'pending', currency: 'eur', amountTotal: 1000, checkoutSessionId: session.id, checkoutUrl: null, stripeIdempotencyKey: 'k', requestFingerprint: 'f', refunds: {}, reservations: {}, disputes: {}, anomalies: [], createdAt: now, updatedAt: now });
      bodies.push(JSON.stringify(stripeObjects.event('checkout.session.completed', session, { id: null, idempotencyKey: null })));
    }
    for (let i = 0; i < bodies.length; i += 10) {
      await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: bodies.slice(i, i + 10).map((MessageBody, j) => ({ Id: String(j), MessageBody })) }));
    }
    const { StripePaymentGateway } = await import('../lambdas/shared/stripe-gateway');
    // These events need no Stripe read (each order's own session completing); a read would fail the bench.
    const handler = createEventProcessor({ dynamoDb: db.client, ordersTableName: LOCAL_TABLE_NAMES.orders, idempotencyTableName: LOCAL_TABLE_NAMES.idempotency, stripe: new StripePaymentGateway(async () => { throw new Error('no Stripe in the drain bench'); }) });
    const started = performance.now();
    const poller = new QueuePoller({ sqs, queueUrl: QueueUrl!, queueArn: Attributes!.QueueArn!, handler, batchSize, concurrency: 1 });
    poller.start();
    for (;;) {
      const { Attributes: depth } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
      if (Number(depth!.ApproximateNumberOfMessages) + Number(depth!.ApproximateNumberOfMessagesNotVisible) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    results[`batch size ${batchSize}`] = Math.round(eventsPerRun / ((performance.now() - started) / 1000));
    await poller.stop();
    sqs.destroy();
    await sqsEmulator.close();
    await db.close();
  }
  return { eventsPerRun, pollers: 1, eventsPerSecond: results, ratio: round(results['batch size 10'] / results['batch size 1']) };
}

/** 5. Distinct checkouts and replays per second through the local stack's HTTP API. */
async function throughput(backend: DynamoDbBackend, requests = 600, concurrency = 16) {
  section('HTTP throughput');
  const stack = await startLocalStack({ dynamoDbBackend: backend, ports: { api: 0, stripe: 0, sqs: 0, dynamodb: 0 }, webhookSecret: 'whsec_bench', deliverWebhooks: false });
  const { hostname, port } = new URL(stack.stripeUrl!);
  const stripe = new Stripe('sk_test_bench', { host: hostname, port, protocol: 'http' });
  const price = await stripe.prices.create({ currency: 'eur', unit_amount: 1000, product_data: { name: 'Bench' } });
  const token = localToken('bench', 'bench');
  const body = JSON.stringify({ lineItems: [{ price: price.id, quantity: 1 }], successUrl: 'https://s.example/', cancelUrl: 'https://s.example/' });
  const post = async (key: string) => {
    const response = await fetch(`${stack.apiUrl}/v1/checkouts`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Idempotency-Key': key, 'Content-Type': 'application/json' }, body });
    await response.arrayBuffer();
    if (response.status !== 201) throw new Error(`checkout answered ${response.status}`);
  };
  const keys = Array.from({ length: requests }, () => randomUUID());
  let t = performance.now();
  await pool(keys, concurrency, post);
  const distinct = Math.round(requests / ((performance.now() - t) / 1000));
  t = performance.now();
  await pool(keys, concurrency, post);
  const replays = Math.round(requests / ((performance.now() - t) / 1000));
  await stack.stop();
  return { requests, concurrency, distinctCheckoutsPerSecond: distinct, replaysPerSecond: replays };
}

function markdown(report: any): string {
  const calls = Object.entries(report.callsPerOperation as Record<string, Record<string, number>>)
    .map(([op, c]) => `| ${op} | ${c.DynamoDB} | ${c.SQS} | ${c.SecretsManager} | ${c.Stripe} |`)
    .join('\n');
  // The other backend's DynamoDB counts, where they differ: dynalite ignores
  // ReturnValuesOnConditionCheckFailure, so Powertools follows a failed lock with a GetItem there.
  const other = report.callsPerOperationOnOtherBackend as { backend: string; rows: Record<string, Record<string, number>> } | undefined;
  const differences = other
    ? Object.entries(other.rows)
        .filter(([op, c]) => c.DynamoDB !== report.callsPerOperation[op]?.DynamoDB)
        .map(([op, c]) => `${op} ${c.DynamoDB}`)
    : [];
  const footnote = !other
    ? ''
    : differences.length === 0
      ? `\n\nOn ${other.backend} every count is the same.`
      : `\n\nOn ${other.backend} the DynamoDB calls differ: ${differences.join(', ')}. dynalite does not implement \`ReturnValuesOnConditionCheckFailure\`, so Powertools follows a failed idempotency lock with a GetItem there, which DynamoDB makes unnecessary.`;
  const bundleRows = Object.entries(report.bundles as Record<string, any>)
    .map(([name, b]) => `| ${name} | ${(b.bytes / 1024).toFixed(0)} KiB | ${b.bytesRatio}× | ${b.coldImportMs} ms | ${b.importRatio}× |`)
    .join('\n');
  const w = report.webhookLatency;
  const d = report.drain;
  const t = report.throughput;
  return `# Benchmarks

Taken ${report.takenAt} on ${report.machine.cpu} (${report.machine.cores} cores, ${report.machine.memoryGiB} GiB), Node ${report.machine.node}, against the local stack (${report.database}, the SQS and Stripe emulators). Absolute times belong to this machine; ratios compare two things measured in the same run.

## Calls per operation

| operation | DynamoDB | SQS | Secrets Manager | Stripe |
|---|---|---|---|---|
${calls}${footnote}

## Bundles (minified ESM, as deployed) and cold import

| handler | bundle | × yardstick | cold import (median of 9) | × yardstick |
|---|---|---|---|---|
${bundleRows}

## Webhook acknowledgement latency (${w.samples} sequential requests)

| | p50 | p99 |
|---|---|---|
| bare SendMessage | ${w.bareSendMessageMs.p50} ms | ${w.bareSendMessageMs.p99} ms |
| webhook receiver (verify + SendMessage) | ${w.webhookAckMs.p50} ms | ${w.webhookAckMs.p99} ms |
| ratio | ${w.ratio.p50}× | ${w.ratio.p99}× |

## Processor drain rate (${d.eventsPerRun} checkout.session.completed events, ${d.pollers} poller)

| batch size | events/s |
|---|---|
| 10 | ${d.eventsPerSecond['batch size 10']} |
| 1 | ${d.eventsPerSecond['batch size 1']} |
| ratio | ${d.ratio}× |

## HTTP throughput through the local stack (${t.requests} requests, concurrency ${t.concurrency})

| | requests/s |
|---|---|
| distinct checkouts (Stripe + 3 DynamoDB writes) | ${t.distinctCheckoutsPerSecond} |
| replays | ${t.replaysPerSecond} |
`;
}

async function main() {
  const { backend, notice } = chooseDynamoDbBackend();
  if (notice) console.warn(notice);
  const otherBackend: DynamoDbBackend | undefined = backend === 'dynamodb-local' ? 'dynalite' : undefined;
  const takenAt = new Date().toISOString();
  const calls = await callsPerOperation(backend);
  const report = {
    takenAt,
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    database: databaseDescriptions[backend],
    callsPerOperation: calls,
    callsPerOperationOnOtherBackend: otherBackend && { backend: otherBackend, rows: await callsPerOperation(otherBackend) },
    bundles: await bundles(),
    webhookLatency: await webhookLatency(),
    drain: await drainRates(backend),
    throughput: await throughput(backend),
  };
  writeFileSync(path.join(ROOT, 'bench-report.json'), `${JSON.stringify(report, null, 2)}\n`);
  const text = markdown(report);
  writeFileSync(path.join(ROOT, 'bench-report.md'), text);
  console.log(text);
}

const cli = defineCli({
  command: 'npm run bench --',
  summary:
    'Measures the local stack (calls per operation, bundle sizes and cold imports, webhook latency, drain\n' +
    'rate, HTTP throughput) and writes bench-report.json and bench-report.md. Starts its own emulators on\n' +
    'free ports (no `npm start` needed); takes a few minutes.',
  options: {},
  examples: ['npm run bench'],
});
parseCli(cli);
runCli(cli, main);
