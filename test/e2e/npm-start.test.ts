import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Stripe from 'stripe';
import { LOCAL_CREDENTIALS } from '../../local/dynamodb';
import { apiClient, eventually } from '../support/http-client';
import { canListen, freePorts } from '../support/ports';

/**
 * `npm start` as a developer (or a process manager) runs it: banner, readable log lines, stop by
 * signal with the ports freed, --persist keeping DynamoDB, the Stripe emulator and the queues,
 * and a port clash explained.
 */
const dataDir = mkdtempSync(path.join(tmpdir(), 'payments-data-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

let ports: { PORT: string; STRIPE_EMULATOR_PORT: string; SQS_PORT: string; DYNAMODB_PORT: string; SHOP_PORT: string };
beforeAll(async () => {
  const [api, stripe, sqs, dynamodb, shop] = (await freePorts(5)).map(String);
  ports = { PORT: api, STRIPE_EMULATOR_PORT: stripe, SQS_PORT: sqs, DYNAMODB_PORT: dynamodb, SHOP_PORT: shop };
});
const env = () => ({ ...process.env, ...ports, POWERTOOLS_LOG_LEVEL: '', STRIPE_SECRET_KEY: '', STRIPE_SECRET_NAME: '', STRIPE_API_KEY_SECRET_NAME: '' });

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
// A failed assertion must not leave a stack running (holding the next test's ports, or jest
// waiting for it): stop it as a process manager would, and only then go on.
afterEach(async () => {
  const running = children.splice(0).filter((child) => child.exitCode === null && child.signalCode === null);
  await Promise.all(running.map((child) => new Promise<void>((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => (clearTimeout(force), resolve()));
    child.kill('SIGTERM');
  })));
}, 30_000);

/** What `npm start` runs (`exec node --import tsx local/start.ts`): the pid is the stack's own. */
function launch(args: string[] = []): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts', '--persist', dataDir, ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}
async function start(): Promise<Started & { api: string; stripe: Stripe }> {
  const started = launch();
  await Promise.race([
    eventually(async () => /^ready /m.test(started.output()), 60_000, 100),
    started.exited.then((code) => { throw new Error(`exited ${code}:\n${started.output()}`); }),
  ]);
  const { hostname, port } = new URL(/Stripe\s+(http:\/\/\S+)/.exec(started.output())![1]);
  return { ...started, api: /^ready (\S+)/m.exec(started.output())![1], stripe: new Stripe('sk_test_x', { host: hostname, port, protocol: 'http' }) };
}

it('keeps the whole local world across a SIGTERM restart: pay, restart, refund, reconcile clean', async () => {
  const first = await start();
  expect(first.output()).toMatch(/WITHOUT verifying its signature/);
  for (const label of ['API', 'Shop', 'Stripe', 'SQS', 'DynamoDB']) expect(first.output()).toMatch(new RegExp(`^\\s+${label}\\s+http://`, 'm'));
  expect(await (await fetch(`${first.api}/_local/health`)).json()).toEqual({ status: 'ready' });

  const price = await first.stripe.prices.create({ currency: 'eur', unit_amount: 500, product_data: { name: 'Persisted' } });
  const created = await apiClient(first.api).post('/v1/checkouts', { lineItems: [{ price: price.id, quantity: 1 }], successUrl: 'https://s.example/', cancelUrl: 'https://s.example/' });
  expect(created.status).toBe(201);
  expect(created.body.checkoutUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/c\/pay\/cs_test_/);
  await first.stripe.rawRequest('POST', `/v1/test_helpers/checkout/sessions/${created.body.checkoutSessionId}/complete`, {});
  await eventually(async () => (await apiClient(first.api).get(`/v1/orders/${created.body.orderId}`)).body.status === 'paid');
  // One readable line per request and per processed event.
  expect(first.output()).toMatch(/^\d\d:\d\d:\d\d POST {1}\/v1\/checkouts {2}201 created {2}\d+ ms$/m);
  await eventually(async () => new RegExp(`^\\d\\d:\\d\\d:\\d\\d EVENT checkout.session.completed evt_\\w+ → order ${created.body.orderId}: applied`, 'm').test(first.output()));
  expect(first.output()).not.toMatch(/^\{"level"/m);
  // A message waiting in the DLQ must survive the restart too.
  const dlqUrl = `http://127.0.0.1:${ports.SQS_PORT}/000000000000/stripe-events-dlq`;
  const sqs = () => new SQSClient({ endpoint: `http://127.0.0.1:${ports.SQS_PORT}`, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const first_sqs = sqs();
  await first_sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: '{"poison":true}' }));
  first_sqs.destroy();

  // A process manager stops it by pid: everything stops, every port is free again.
  first.child.kill('SIGTERM');
  expect(await first.exited).toBe(0);
  for (const port of Object.values(ports)) expect(await canListen(Number(port))).toBe(true);

  const second = await start(); // the same ports
  const order = await apiClient(second.api).get(`/v1/orders/${created.body.orderId}`);
  expect(order).toMatchObject({ status: 200, body: { orderId: created.body.orderId, status: 'paid', amountTotal: 500 } });
  const refund = await apiClient(second.api).post('/v1/refunds', { orderId: created.body.orderId });
  expect(refund).toMatchObject({ status: 201, body: { amount: 500, status: 'succeeded' } });
  expect((await second.stripe.refunds.list({ payment_intent: order.body.paymentIntentId })).data).toHaveLength(1);
  await eventually(async () => (await apiClient(second.api).get(`/v1/orders/${created.body.orderId}`)).body.status === 'refunded');
  const second_sqs = sqs();
  const dlq = await second_sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
  second_sqs.destroy();
  expect(dlq.Attributes!.ApproximateNumberOfMessages).toBe('1');

  const today = new Date().toISOString().slice(0, 10);
  const reconciled = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bin/reconcile.ts', '--since', today, '--until', today], { env: env() });
  expect(reconciled.stdout).toMatch(/checked: 1 Stripe sessions .* 1 orders .*\n\s+no drift/);

  second.child.kill('SIGHUP');
  expect(await second.exited).toBe(0);
  for (const port of Object.values(ports)) expect(await canListen(Number(port))).toBe(true);
}, 180_000);

it('names the service, its variable and the likely cause when a port is taken; no stack trace', async () => {
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(Number(ports.STRIPE_EMULATOR_PORT), '127.0.0.1', resolve));
  try {
    const clash = launch();
    expect(await clash.exited).toBe(1);
    expect(clash.output()).toMatch(/Stripe emulator cannot listen on port \d+: the port is already in use/);
    expect(clash.output()).toMatch(/another `npm start` running\?.*STRIPE_EMULATOR_PORT=<port>/s);
    expect(clash.output()).not.toMatch(/^\s+at /m);
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
  for (const port of Object.values(ports)) expect(await canListen(Number(port))).toBe(true);
}, 60_000);
