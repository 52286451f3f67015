import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { backfill } from '../../bin/events';
import { createEventProcessor } from '../../lambdas/events/create-event-processor';
import { SUBSCRIBED_EVENT_TYPES } from '../../lambdas/domain/stripe-events';
import { DynamoDbJournal } from '../../lambdas/shared/journal-store';
import { LOCAL_CREDENTIALS } from '../../local/dynamodb';
import { lambdaContext } from '../../local/lambda-context';
import { startSqsEmulator, type SqsEmulator } from '../../local/sqs-emulator/server';
import { startHarness, TABLES, type Harness } from '../support/harness';
import { checkoutOrder } from '../support/paid-order';

/** backfill() against the Stripe emulator's event list, dynalite and the SQS emulator, with no processor running between runs. */
let h: Harness;
let sqsEmulator: SqsEmulator;
let sqs: SQSClient;
let queueUrl: string;
let journal: DynamoDbJournal;

beforeAll(async () => {
  h = await startHarness();
  sqsEmulator = await startSqsEmulator();
  sqs = new SQSClient({ endpoint: sqsEmulator.url, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'backfill-test' }))).QueueUrl!;
  journal = new DynamoDbJournal(h.db.client, TABLES.journal);
});
afterAll(async () => {
  sqs.destroy();
  await sqsEmulator.close();
  await h.close();
});

const depth = async () => Number((await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes!.ApproximateNumberOfMessages);
const run = (options: { inFlightMinutes?: number; dryRun?: boolean } = {}) =>
  backfill({ stripe: h.stripe, journal, queue: { sqs, queueUrl } }, { since: new Date(Date.now() - 600_000), until: new Date(Date.now() + 60_000), dryRun: false, ...options });

it('enqueues each missed event once, leaves in-flight ones alone, and nothing once processed; failed ones go again', async () => {
  for (let i = 0; i < 3; i++) {
    const order = await checkoutOrder(h, 1000 + i);
    await h.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${order.checkoutSessionId}/complete`, {});
  }
  const handled = h.emulator.state.events.filter((e) => (SUBSCRIBED_EVENT_TYPES as readonly string[]).includes(e.type as string));
  expect(handled).toHaveLength(3); // charge.succeeded and payment_intent.succeeded are not listed

  expect((await run({ dryRun: true })).missing).toHaveLength(3);
  expect(await depth()).toBe(0);
  const first = await run();
  expect(first).toMatchObject({ listed: 3, enqueued: 3, alreadyJournaled: 0 });
  expect(await depth()).toBe(3);
  const second = await run();
  expect(second).toMatchObject({ listed: 3, enqueued: 0, missing: [] });
  expect(second.inFlight.sort()).toEqual(handled.map((e) => e.id).sort());
  expect(await depth()).toBe(3);

  // The processor takes them: then even with no in-flight window, nothing is enqueued.
  const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }));
  expect(Messages).toHaveLength(3);
  const processor = createEventProcessor({ dynamoDb: h.db.client, ordersTableName: TABLES.orders, idempotencyTableName: TABLES.idempotency, stripe: h.gateway, journal });
  const records = Messages.map((m) => ({ messageId: m.MessageId!, receiptHandle: m.ReceiptHandle!, body: m.Body!, attributes: { SentTimestamp: String(Date.now()) }, messageAttributes: {} }));
  expect((await processor({ Records: records } as unknown as SQSEvent, lambdaContext('events'))).batchItemFailures).toEqual([]);
  expect(await run({ inFlightMinutes: 0 })).toMatchObject({ enqueued: 0, alreadyJournaled: 3, inFlight: [], missing: [], failed: [] });

  // An event whose processing failed (and was never applied) is enqueued again.
  const order = await checkoutOrder(h, 2000);
  await h.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${order.checkoutSessionId}/complete`, {});
  const failedEvent = h.emulator.state.events.at(-1)!;
  await journal.recordEvent({
    stripeEventId: failedEvent.id as string, type: failedEvent.type as string, created: failedEvent.created as number, apiVersion: null, objectIds: {}, orderId: null,
    receivedAt: null, processedAt: new Date().toISOString(), outcome: 'failed', reason: null, error: 'Error: boom', duplicate: false, replay: false, payload: null,
  });
  expect(await run({ inFlightMinutes: 0 })).toMatchObject({ enqueued: 1, failed: [failedEvent.id], missing: [], alreadyJournaled: 3 });
  expect(await depth()).toBe(1);
});
