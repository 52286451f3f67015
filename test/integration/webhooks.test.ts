import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import Stripe from 'stripe';
import { problemTypeUri } from '../../lambdas/shared/problem';
import { metrics } from '../../lambdas/shared/observability';
import { createWebhookHandler } from '../../lambdas/webhooks/create-webhook-handler';
import { signatureHeader } from '../../local/stripe-emulator/webhook-delivery';
import { LOCAL_CREDENTIALS } from '../../local/dynamodb';
import { startSqsEmulator, type SqsEmulator } from '../../local/sqs-emulator/server';
import { call } from '../support/harness';

const SECRET = 'whsec_test_webhooks';
let emulator: SqsEmulator;
let sqs: SQSClient;
let queueUrl: string;
let receiver: ReturnType<typeof createWebhookHandler>;

const stripeEvent = (id = `evt_${Math.random().toString(36).slice(2)}`) =>
  JSON.stringify({ id, object: 'event', type: 'checkout.session.completed', created: 1_763_900_000, data: { object: { id: 'cs_test_1', object: 'checkout.session' } } });
const sign = (payload: string, { secret = SECRET, timestamp = Math.floor(Date.now() / 1000) } = {}) =>
  Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
const deliver = (payload: string, headers: Record<string, string>, handler = receiver) =>
  call(handler, { path: '/v1/webhooks/stripe', claims: null, headers: { 'Content-Type': 'application/json; charset=utf-8', ...headers }, body: payload });
const drain = async () => {
  const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }));
  return Messages ?? [];
};

beforeAll(async () => {
  emulator = await startSqsEmulator();
  sqs = new SQSClient({ endpoint: emulator.url, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  ({ QueueUrl: queueUrl } = (await sqs.send(new CreateQueueCommand({ QueueName: 'stripe-events' }))) as { QueueUrl: string });
  receiver = createWebhookHandler({ sqs, queueUrl, webhookSigningSecrets: async () => [SECRET] });
});
afterEach(async () => {
  await drain();
});
afterAll(async () => {
  sqs.destroy();
  await emulator.close();
});

describe('POST /v1/webhooks/stripe', () => {
  it('verifies, enqueues the raw event with its id, type and created, then acknowledges', async () => {
    const payload = stripeEvent('evt_valid');
    const response = await deliver(payload, { 'Stripe-Signature': sign(payload) });
    expect(response).toMatchObject({ status: 200, body: { received: true } });
    const [message] = await drain();
    expect(message.Body).toBe(payload);
    expect(message.MessageAttributes).toMatchObject({
      stripeEventId: { StringValue: 'evt_valid' },
      stripeEventType: { StringValue: 'checkout.session.completed' },
      stripeEventCreated: { DataType: 'Number', StringValue: '1763900000' },
    });
  });

  // Issue 12, finding 8: an event larger than the queue allows was refused on every retry.
  it('enqueues an event larger than the queue allows as a pointer to fetch by id', async () => {
    const small = createWebhookHandler({ sqs, queueUrl, webhookSigningSecrets: async () => [SECRET], maxMessageBytes: 2048 });
    const payload = JSON.stringify({ ...JSON.parse(stripeEvent('evt_large')), padding: 'x'.repeat(4096) });
    expect(await deliver(payload, { 'Stripe-Signature': sign(payload) }, small)).toMatchObject({ status: 200 });
    const messages = await drain();
    expect(messages.map((m) => JSON.parse(m.Body!))).toEqual([{ object: 'event_pointer', id: 'evt_large', type: 'checkout.session.completed', created: 1_763_900_000 }]);
    const fits = stripeEvent('evt_fits');
    expect(await deliver(fits, { 'Stripe-Signature': sign(fits) }, small)).toMatchObject({ status: 200 });
    expect((await drain()).map((m) => m.Body)).toEqual([fits]);
  });

  it('accepts a base64-encoded body (API Gateway binary media type)', async () => {
    const payload = stripeEvent();
    const response = await call(receiver, {
      path: '/v1/webhooks/stripe',
      claims: null,
      headers: { 'Content-Type': 'application/octet-stream', 'Stripe-Signature': sign(payload) },
      body: payload, // apiGatewayProxyEvent base64-encodes non-text media types
    });
    expect(response.status).toBe(200);
    expect((await drain()).map((m) => m.Body)).toEqual([payload]);
  });

  it.each([
    ['missing', () => ({})],
    ['forged (another secret)', (p: string) => ({ 'Stripe-Signature': sign(p, { secret: 'whsec_attacker' }) })],
    ['stale (older than 300 s)', (p: string) => ({ 'Stripe-Signature': sign(p, { timestamp: Math.floor(Date.now() / 1000) - 301 }) })],
    ['garbage', () => ({ 'Stripe-Signature': 't=1,v1=abc' })],
  ])('answers 400 for a %s signature and enqueues nothing', async (_, headers) => {
    const payload = stripeEvent();
    const response = await deliver(payload, headers(payload) as Record<string, string>);
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.body.type).toBe(problemTypeUri('invalidWebhookSignature'));
    expect(await drain()).toHaveLength(0);
  });

  it('answers 400 when the body was changed after signing', async () => {
    const payload = stripeEvent();
    const header = sign(payload);
    const response = await deliver(payload.replace('checkout.session.completed', 'charge.refunded'), { 'Stripe-Signature': header });
    expect(response.status).toBe(400);
    expect(await drain()).toHaveLength(0);
  });

  it('acknowledges a duplicate delivery too (the processor absorbs it)', async () => {
    const payload = stripeEvent('evt_twice');
    expect((await deliver(payload, { 'Stripe-Signature': sign(payload) })).status).toBe(200);
    expect((await deliver(payload, { 'Stripe-Signature': sign(payload) })).status).toBe(200);
    expect((await drain()).map((m) => m.MessageAttributes?.stripeEventId.StringValue)).toEqual(['evt_twice', 'evt_twice']);
  });

  it('answers 503 when SQS refuses the event, so Stripe retries it', async () => {
    // A fault the emulator cannot be made to produce on demand: SendMessage fails.
    const failing = new SQSClient({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
    mockClient(failing).on(SendMessageCommand).rejects(Object.assign(new Error('Service Unavailable'), { name: 'ServiceUnavailable', $metadata: {} }));
    const handler = createWebhookHandler({ sqs: failing, queueUrl, webhookSigningSecrets: async () => [SECRET] });
    const payload = stripeEvent();
    const response = await deliver(payload, { 'Stripe-Signature': sign(payload) }, handler);
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('2');
    expect(response.body.type).toBe(problemTypeUri('queueUnavailable'));
  });

  describe('signing secrets', () => {
    /** A Stripe-Signature header as Stripe sends it during a roll: one v1 per live secret. */
    const signedWith = (payload: string, secrets: string[], timestamp = Math.floor(Date.now() / 1000)) =>
      `t=${timestamp},${secrets.map((secret) => signatureHeader(payload, secret, timestamp).split(',')[1]).join(',')}`;
    const rejections = () => rejected.mock.calls.filter(([name]) => name === 'WebhookSignatureRejected').length;
    let rejected: jest.SpyInstance;
    beforeEach(() => {
      rejected = jest.spyOn(metrics, 'addMetric');
    });
    afterEach(() => rejected.mockRestore());

    it('accepts a signature by any live secret, and a header carrying one v1 per secret', async () => {
      const handler = createWebhookHandler({ sqs, queueUrl, webhookSigningSecrets: async () => ['whsec_new', 'whsec_old'] });
      const payloads = [stripeEvent(), stripeEvent(), stripeEvent()];
      expect((await deliver(payloads[0], { 'Stripe-Signature': signedWith(payloads[0], ['whsec_old']) }, handler)).status).toBe(200);
      expect((await deliver(payloads[1], { 'Stripe-Signature': signedWith(payloads[1], ['whsec_new']) }, handler)).status).toBe(200);
      expect((await deliver(payloads[2], { 'Stripe-Signature': signedWith(payloads[2], ['whsec_unknown', 'whsec_new']) }, handler)).status).toBe(200);
      expect((await drain()).map((m) => m.Body).sort()).toEqual([...payloads].sort());
      expect(rejections()).toBe(0);
    });

    it('re-reads the secret once after a failure, so a rotated secret works before the cache expires', async () => {
      let stored = ['whsec_before'];
      const reads: boolean[] = [];
      const cache = { value: stored };
      const handler = createWebhookHandler({
        sqs,
        queueUrl,
        webhookSigningSecrets: async (options) => {
          reads.push(Boolean(options?.refresh));
          if (options?.refresh) cache.value = stored;
          return cache.value;
        },
      });
      stored = ['whsec_after']; // rotated in Secrets Manager; the handler still caches the old one
      const payload = stripeEvent();
      const response = await deliver(payload, { 'Stripe-Signature': signedWith(payload, ['whsec_after']) }, handler);
      expect(response.status).toBe(200);
      expect(reads).toEqual([false, true]);
      expect((await drain()).map((m) => m.Body)).toEqual([payload]);
      expect(rejections()).toBe(0);
    });

    it('answers 400 after the one re-read, counts each rejection, and re-reads at most once per interval under a flood of forgeries', async () => {
      let clock = 1_000_000;
      let refreshes = 0;
      const handler = createWebhookHandler({
        sqs,
        queueUrl,
        now: () => clock,
        refreshIntervalMs: 30_000,
        webhookSigningSecrets: async (options) => {
          if (options?.refresh) refreshes++;
          return [SECRET];
        },
      });
      for (let i = 0; i < 20; i++) {
        const payload = stripeEvent();
        expect((await deliver(payload, { 'Stripe-Signature': signedWith(payload, ['whsec_attacker']) }, handler)).status).toBe(400);
      }
      expect(refreshes).toBe(1);
      clock += 30_000;
      const payload = stripeEvent();
      expect((await deliver(payload, { 'Stripe-Signature': signedWith(payload, ['whsec_attacker']) }, handler)).status).toBe(400);
      expect(refreshes).toBe(2);
      expect((await deliver(payload, {}, handler)).status).toBe(400); // no header at all
      expect(rejections()).toBe(22);
      expect(await drain()).toHaveLength(0);
    });
  });
});
