import { ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { apiGatewayProxyEvent } from '../../local/api-gateway-event';
import { createTables, LOCAL_TABLE_NAMES, type LocalDynamoDb } from '../../local/dynamodb';
import { lambdaContext } from '../../local/lambda-context';
import { LOCAL_APP_CLIENT_ID } from '../../local/token';
import { startStripeEmulator, type StripeEmulator, type StripeEmulatorOptions } from '../../local/stripe-emulator/server';
import { StripePaymentGateway } from '../../lambdas/shared/stripe-gateway';
import { expectResponseInSpec } from './contract';
import { testDynamoDb } from './dynamodb';

export const TABLES = LOCAL_TABLE_NAMES;

export interface Harness {
  db: LocalDynamoDb;
  emulator: StripeEmulator;
  /** The real SDK against the emulator, without SDK-level retries so our own retry paths run. */
  stripe: Stripe;
  gateway: StripePaymentGateway;
  close(): Promise<void>;
}

/** The error a Stripe call was refused with; a call that succeeds fails the test. */
export const stripeError = (promise: Promise<unknown>) =>
  promise.then(() => { throw new Error('expected a Stripe error'); }, (error: Stripe.errors.StripeError) => error);

export function stripeClientFor(url: string, maxNetworkRetries = 0, apiKey = 'sk_test_harness'): Stripe {
  const { hostname, port } = new URL(url);
  return new Stripe(apiKey, { host: hostname, port, protocol: 'http', maxNetworkRetries, timeout: 5000 });
}

/** This file's own database (DYNAMODB_BACKEND) with the real tables + a Stripe emulator. */
export async function startHarness(emulatorOptions: StripeEmulatorOptions = {}): Promise<Harness> {
  const db = await testDynamoDb();
  await createTables(db.client);
  const emulator = await startStripeEmulator(emulatorOptions);
  const stripe = stripeClientFor(emulator.url);
  return {
    db,
    emulator,
    stripe,
    gateway: new StripePaymentGateway(async () => stripe),
    close: async () => {
      await emulator.close();
      await db.close();
    },
  };
}

export async function createPrice(stripe: Stripe, unitAmount: number, currency = 'eur'): Promise<string> {
  const price = await stripe.prices.create({ currency, unit_amount: unitAmount, product_data: { name: `Product ${unitAmount}` } });
  return price.id;
}

export async function countItems(client: DynamoDBClient, tableName: string): Promise<number> {
  let count = 0;
  let start: Record<string, import('@aws-sdk/client-dynamodb').AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: tableName, Select: 'COUNT', ExclusiveStartKey: start }));
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start);
  return count;
}

export interface CallOptions {
  method?: string;
  path: string;
  resource?: string;
  pathParameters?: Record<string, string>;
  claims?: Record<string, string> | null;
  headers?: Record<string, string | string[]>;
  body?: unknown;
  context?: Context;
}

export interface CallResult {
  status: number;
  headers: Record<string, string>;
  body: any;
}

export const claimsOf = (tenantId: string, userId: string) => ({ 'custom:tenant_id': tenantId, sub: userId, token_use: 'id', aud: LOCAL_APP_CLIENT_ID });
export const ALICE = claimsOf('acme', 'alice');

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/** Calls a handler with the proxy event API Gateway would build, checks the answer against docs/openapi.yaml, and parses it. */
export async function call(handler: Handler, options: CallOptions): Promise<CallResult> {
  const headers: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name] = Array.isArray(value) ? value : [value];
  if (options.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['Content-Type'] = ['application/json'];
  }
  const event = apiGatewayProxyEvent({
    method: options.method ?? 'POST',
    path: options.path,
    resource: options.resource ?? options.path,
    pathParameters: options.pathParameters,
    headers,
    body: options.body === undefined ? null : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
    claims: options.claims === null ? undefined : (options.claims ?? ALICE),
  });
  const response = await handler(event, options.context ?? lambdaContext('test'));
  const responseHeaders = Object.fromEntries(Object.entries(response.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  await expectResponseInSpec(options.method ?? 'POST', options.resource ?? options.path, { status: response.statusCode, headers: responseHeaders, bodyText: response.body || undefined });
  return {
    status: response.statusCode,
    headers: responseHeaders,
    body: response.body ? JSON.parse(response.body) : undefined,
  };
}

export const newKey = () => randomUUID();

/** The real gateway with some methods replaced (a crash, a stall): every other call really reaches the emulator. */
export function overriding<T extends object>(real: T, overrides: Partial<T>): T {
  return Object.assign(Object.create(real) as T, overrides);
}
