import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import Stripe from 'stripe';
import { createCheckoutHandler } from '../lambdas/checkout/create-checkout-handler';
import { createEventProcessor } from '../lambdas/events/create-event-processor';
import { DynamoDbJournal } from '../lambdas/shared/journal-store';
import { StripePaymentGateway } from '../lambdas/shared/stripe-gateway';
import { createWebhookHandler } from '../lambdas/webhooks/create-webhook-handler';
import { apiGatewayProxyEvent } from '../local/api-gateway-event';
import { createTables, LOCAL_CREDENTIALS, LOCAL_TABLE_NAMES, startDynalite } from '../local/dynamodb';
import { lambdaContext } from '../local/lambda-context';
import { startSqsEmulator } from '../local/sqs-emulator/server';
import { startStripeEmulator } from '../local/stripe-emulator/server';
import { signatureHeader } from '../local/stripe-emulator/webhook-delivery';
import { sqsEvent } from '../test/support/orders';

/**
 * `npx tsx bench/journal.ts [N]`: what the journal costs. Counts AWS calls with SDK middleware
 * (per table and command) on the webhook acknowledgement path and in the processor, and compares
 * processor time per event with and without the journal in the same run. Figures, not assertions.
 */
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const N = Number(process.argv[2] ?? 40);
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))];

async function main() {
  const db = await startDynalite();
  await createTables(db.client);
  const sqsEmulator = await startSqsEmulator();
  const emulator = await startStripeEmulator();
  const { hostname, port } = new URL(emulator.url);
  const stripe = new Stripe('sk_test_bench', { host: hostname, port, protocol: 'http' });
  const gateway = new StripePaymentGateway(async () => stripe);
  const calls: string[] = [];
  const counted = <C extends DynamoDBClient | SQSClient>(client: C, service: string) => {
    (client as DynamoDBClient).middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { TableName?: string; RequestItems?: Record<string, unknown> };
        calls.push(`${service} ${context.commandName} ${input.TableName ?? Object.keys(input.RequestItems ?? {}).join(',')}`);
        return next(args);
      },
      { step: 'initialize', name: `count-${service}` },
    );
    return client;
  };
  const dynamoDb = counted(new DynamoDBClient({ endpoint: db.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS }), 'DynamoDB');
  const sqs = counted(new SQSClient({ endpoint: sqsEmulator.url, region: 'us-east-1', credentials: LOCAL_CREDENTIALS }), 'SQS');
  const { QueueUrl: queueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'bench-journal' }));
  const tables = { dynamoDb, ordersTableName: LOCAL_TABLE_NAMES.orders, idempotencyTableName: LOCAL_TABLE_NAMES.idempotency };
  const journal = new DynamoDbJournal(dynamoDb, LOCAL_TABLE_NAMES.journal);
  const price = (await stripe.prices.create({ currency: 'eur', unit_amount: 1000, product_data: { name: 'bench' } })).id;

  /** N paid sessions whose completion events have not been processed. */
  const completedEvents = async () => {
    const events: string[] = [];
    const checkout = createCheckoutHandler({ ...tables, gateway, journal });
    for (let i = 0; i < N; i++) {
      const response = await checkout(
        apiGatewayProxyEvent({ method: 'POST', path: '/v1/checkouts', resource: '/v1/checkouts', headers: { 'Idempotency-Key': [randomUUID()], 'Content-Type': ['application/json'] }, body: JSON.stringify({ lineItems: [{ price, quantity: 1 }], successUrl: 'https://x.example/ok', cancelUrl: 'https://x.example/no' }), claims: { 'custom:tenant_id': 'acme', sub: 'bench' } }),
        lambdaContext('checkout'),
      );
      if (response.statusCode !== 201) throw new Error(`checkout answered ${response.statusCode}: ${response.body}`);
      const { checkoutSessionId } = JSON.parse(response.body);
      await stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${checkoutSessionId}/complete`, {});
      events.push(JSON.stringify(emulator.state.events.find((e) => e.type === 'checkout.session.completed' && (e.data as { object: { id: string } }).object.id === checkoutSessionId)));
    }
    return events;
  };
  const summarize = (slice: string[], per: number) => {
    const byKind = new Map<string, number>();
    for (const c of slice) byKind.set(c, (byKind.get(c) ?? 0) + 1);
    return Object.fromEntries([...byKind].map(([k, v]) => [k, Number((v / per).toFixed(2))]));
  };

  // 1. The webhook acknowledgement path: no DynamoDB client at all, so count SQS calls per webhook.
  const webhook = createWebhookHandler({ sqs, queueUrl: queueUrl!, webhookSigningSecrets: async () => ['whsec_bench'] });
  const sample = (await completedEvents()).slice(0, N);
  calls.length = 0;
  for (const body of sample) {
    const response = await webhook(apiGatewayProxyEvent({ method: 'POST', path: '/v1/webhooks/stripe', resource: '/v1/webhooks/stripe', headers: { 'Stripe-Signature': [signatureHeader(body, 'whsec_bench')], 'Content-Type': ['application/json'] }, body }));
    if (response.statusCode !== 200) throw new Error(`webhook answered ${response.statusCode}`);
  }
  const ackCalls = summarize(calls.splice(0), N);

  // 2. The processor, with the journal: first delivery, then a duplicate delivery of each.
  const timed = async (processor: ReturnType<typeof createEventProcessor>, bodies: string[]) => {
    const ms: number[] = [];
    for (const body of bodies) {
      const started = performance.now();
      const { batchItemFailures } = await processor(sqsEvent([body]), lambdaContext('events'));
      ms.push(performance.now() - started);
      if (batchItemFailures.length) throw new Error('an event failed');
    }
    return ms;
  };
  const withJournal = createEventProcessor({ ...tables, stripe: gateway, journal });
  const withoutJournal = createEventProcessor({ ...tables, stripe: gateway });
  calls.length = 0;
  const firstMs = await timed(withJournal, sample);
  const firstCalls = summarize(calls.splice(0), N);
  await timed(withJournal, sample);
  const duplicateCalls = summarize(calls.splice(0), N);

  // 3. Same work without the journal (fresh events), interleaved in rounds to share the machine's noise.
  const plain = await completedEvents();
  const journaled = await completedEvents();
  const plainMs: number[] = [];
  const journaledMs: number[] = [];
  for (let i = 0; i < N; i++) {
    plainMs.push(...(await timed(withoutJournal, [plain[i]])));
    journaledMs.push(...(await timed(withJournal, [journaled[i]])));
  }
  const report = {
    events: N,
    webhookAckCallsPerEvent: ackCalls,
    processorCallsPerEventFirstDelivery: firstCalls,
    processorCallsPerEventDuplicate: duplicateCalls,
    processorMsP50: { withoutJournal: Number(percentile(plainMs, 50).toFixed(2)), withJournal: Number(percentile(journaledMs, 50).toFixed(2)) },
    processorMsP95: { withoutJournal: Number(percentile(plainMs, 95).toFixed(2)), withJournal: Number(percentile(journaledMs, 95).toFixed(2)) },
    firstDeliveryMsP50: Number(percentile(firstMs, 50).toFixed(2)),
  };
  console.log(JSON.stringify(report, null, 2));
  sqs.destroy();
  dynamoDb.destroy();
  await emulator.close();
  await sqsEmulator.close();
  await db.close();
}

void main();
