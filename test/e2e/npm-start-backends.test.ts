import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import Stripe from 'stripe';
import type { DynamoDbBackend } from '../../local/dynamodb';
import { apiClient } from '../support/http-client';

/** `npm start` on each DynamoDB backend: banner with the backend, Ctrl-C, and --persist across restarts (issue 11). */
const dataDirs: string[] = [];
afterAll(() => dataDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

interface Started {
  child: ChildProcess;
  output: () => string;
  urls: { api: string; stripe: string; dynamoDb: string };
}

async function start(backend: DynamoDbBackend, dataDir: string): Promise<Started> {
  const child = spawn(path.join('node_modules', '.bin', 'tsx'), ['local/start.ts', '--persist', dataDir], {
    env: { ...process.env, DYNAMODB_BACKEND: backend, PORT: '0', STRIPE_EMULATOR_PORT: '0', SQS_PORT: '0', DYNAMODB_PORT: '0', SHOP_PORT: '0', POWERTOOLS_LOG_LEVEL: 'WARN', STRIPE_SECRET_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line:\n${output}`)), 60_000);
    child.stdout!.on('data', () => {
      if (/^ready /m.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}:\n${output}`)));
  });
  const api = /^ready (\S+)/m.exec(output)![1];
  const stripe = /Stripe\s+(http:\/\/\S+)/.exec(output)![1];
  const dynamoDb = /DynamoDB\s+(http:\/\/\S+)/.exec(output)![1];
  return { child, output: () => output, urls: { api, stripe, dynamoDb } };
}

async function stop({ child }: Started): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  return exited;
}

const answers = (url: string) => fetch(url, { signal: AbortSignal.timeout(2_000) }).then(() => true, () => false);

// DynamoDB Local needs Java; without it the jest global setup chose dynalite and said so.
const backends: DynamoDbBackend[] = process.env.DYNAMODB_BACKEND === 'dynamodb-local' ? ['dynamodb-local', 'dynalite'] : ['dynalite'];
describe.each(backends)('DYNAMODB_BACKEND=%s', (backend) => {
  it('starts, prints every URL and the backend, stops cleanly on Ctrl-C, and restarts with the data of --persist', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), `payments-data-${backend}-`));
    dataDirs.push(dataDir);
    const first = await start(backend, dataDir);
    expect(first.output()).toMatch(/WITHOUT verifying its signature/);
    for (const label of ['API', 'Stripe', 'SQS', 'DynamoDB']) expect(first.output()).toMatch(new RegExp(`^\\s+${label}\\s+http://`, 'm'));
    expect(first.output()).toMatch(new RegExp(`DynamoDB\\s+http://\\S+\\s+\\(${backend === 'dynamodb-local' ? 'DynamoDB Local \\d' : 'dynalite'}.*persisted in .*DYNAMODB_BACKEND=${backend}\\)`));
    const { hostname, port } = new URL(first.urls.stripe);
    const stripe = new Stripe('sk_test_x', { host: hostname, port, protocol: 'http' });
    const price = await stripe.prices.create({ currency: 'eur', unit_amount: 500, product_data: { name: 'Persisted' } });
    const created = await apiClient(first.urls.api).post('/v1/checkouts', { lineItems: [{ price: price.id, quantity: 1 }], successUrl: 'https://s.example/', cancelUrl: 'https://s.example/' });
    expect(created.status).toBe(201);
    expect(await stop(first)).toBe(0);
    expect(await answers(first.urls.dynamoDb)).toBe(false); // the database (a JVM, for DynamoDB Local) stopped with it

    // The restart finds its tables, TTL already enabled: DynamoDB Local refuses to enable it twice.
    const second = await start(backend, dataDir);
    const order = await apiClient(second.urls.api).get(`/v1/orders/${created.body.orderId}`);
    expect(order).toMatchObject({ status: 200, body: { orderId: created.body.orderId, amountTotal: 500 } });
    expect(await stop(second)).toBe(0);
    expect(await answers(second.urls.dynamoDb)).toBe(false);
  }, 180_000);
});
