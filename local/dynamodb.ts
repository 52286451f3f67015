import {
  CreateTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import type { AddressInfo } from 'node:net';
import { idempotencyTable, journalTable, ordersTable, subscriptionsTable, type TableSchema } from '../lib/tables';
import { detectJava, DYNAMODB_LOCAL_MIN_JAVA, startDynamoDbLocal } from './dynamodb-local';

// dynalite ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: { path?: string; createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => import('node:http').Server;

/** `DYNAMODB_BACKEND`: AWS's DynamoDB Local (Java), or dynalite (Node, more lenient). */
export type DynamoDbBackend = 'dynamodb-local' | 'dynalite';
const BACKENDS: readonly DynamoDbBackend[] = ['dynamodb-local', 'dynalite'];

export interface LocalCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface LocalDynamoDb {
  backend: DynamoDbBackend;
  /** For banners and reports, e.g. "DynamoDB Local 3.3.0". */
  description: string;
  endpoint: string;
  /** DynamoDB Local keeps one database per access key (unless -sharedDb): use these. */
  credentials: LocalCredentials;
  client: DynamoDBClient;
  /** Another client on the same database (e.g. to add fault-injecting middleware). */
  newClient(): DynamoDBClient;
  close(): Promise<void>;
}

export interface BackendChoice {
  backend: DynamoDbBackend;
  /** Set when the default fell back to dynalite: one line to show the developer. */
  notice?: string;
}

/**
 * The one switch: `DYNAMODB_BACKEND=dynamodb-local|dynalite`. Unset, DynamoDB Local when Java 17+
 * is on PATH, else dynalite with a notice; with `CI=true` that fallback is an error, so a CI run
 * can never pass on dynalite without saying so.
 */
export function chooseDynamoDbBackend(env: NodeJS.ProcessEnv = process.env, java = detectJava): BackendChoice {
  const requested = env.DYNAMODB_BACKEND?.trim() || undefined;
  if (requested !== undefined && !BACKENDS.includes(requested as DynamoDbBackend)) {
    throw new Error(`DYNAMODB_BACKEND must be one of ${BACKENDS.join(', ')}; got "${requested}".`);
  }
  if (requested === 'dynalite') return { backend: 'dynalite' };
  const runtime = java();
  const usable = runtime?.major !== undefined && runtime.major >= DYNAMODB_LOCAL_MIN_JAVA;
  if (usable) return { backend: 'dynamodb-local' };
  const found = runtime ? `found ${runtime.versionLine}` : 'no `java` on PATH';
  const need = `DynamoDB Local needs Java ${DYNAMODB_LOCAL_MIN_JAVA} or later (${found})`;
  if (requested === 'dynamodb-local') throw new Error(`DYNAMODB_BACKEND=dynamodb-local: ${need}. Install a JDK (e.g. openjdk-17-jre-headless) or set DYNAMODB_BACKEND=dynalite.`);
  if (env.CI === 'true') throw new Error(`CI=true requires DynamoDB Local, but ${need}. Install Java ${DYNAMODB_LOCAL_MIN_JAVA}+; a CI run must not fall back to dynalite.`);
  return { backend: 'dynalite', notice: `${need}: using dynalite, which skips some of DynamoDB's validation (set DYNAMODB_BACKEND to choose).` };
}

export interface LocalDynamoDbOptions {
  backend: DynamoDbBackend;
  /** 0 or undefined picks a free port. */
  port?: number;
  /** Keep the data in this folder instead of memory. */
  persistDir?: string;
}

/** The chosen backend, as `npm start`, the bench and the storm run it: one database for every client. */
export async function startLocalDynamoDb(options: LocalDynamoDbOptions): Promise<LocalDynamoDb> {
  if (options.backend === 'dynalite') return startDynalite({ port: options.port, path: options.persistDir });
  const jvm = await startDynamoDbLocal({ port: options.port, dbPath: options.persistDir, sharedDb: true });
  return connectLocalDynamoDb({ backend: 'dynamodb-local', description: `DynamoDB Local ${jvm.version}`, endpoint: jvm.endpoint, close: jvm.stop });
}

/** A client on an endpoint that is already serving; `close` destroys it, then runs `options.close` (stopping what it owns). */
export function connectLocalDynamoDb(options: {
  backend: DynamoDbBackend;
  description: string;
  endpoint: string;
  credentials?: LocalCredentials;
  close?: () => Promise<void>;
}): LocalDynamoDb {
  const credentials = options.credentials ?? LOCAL_CREDENTIALS;
  const newClient = () => new DynamoDBClient({ endpoint: options.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  const client = newClient();
  return {
    backend: options.backend,
    description: options.description,
    endpoint: options.endpoint,
    credentials,
    client,
    newClient,
    close: async () => {
      client.destroy();
      await options.close?.();
    },
  };
}

/** dynalite: in memory, or on disk (LevelDB) when `path` is given. Tables become ACTIVE at once. */
export async function startDynalite(options: { port?: number; path?: string } = {}): Promise<LocalDynamoDb> {
  const server = dynalite({ path: options.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  return connectLocalDynamoDb({
    backend: 'dynalite',
    description: 'dynalite',
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

// DynamoDB Local accepts only letters and digits in an access key.
export const LOCAL_CREDENTIALS: LocalCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };

export interface TableNames {
  idempotency: string;
  orders: string;
  journal: string;
  subscriptions: string;
}

export const LOCAL_TABLE_NAMES: TableNames = { idempotency: 'payments-idempotency', orders: 'payments-orders', journal: 'payments-journal', subscriptions: 'payments-subscriptions' };

/** Creates the tables from the same schemas the CDK stack deploys (lib/tables.ts). */
export async function createTables(client: DynamoDBClient, names: TableNames = LOCAL_TABLE_NAMES): Promise<void> {
  await createTable(client, names.idempotency, idempotencyTable);
  await createTable(client, names.orders, ordersTable);
  await createTable(client, names.journal, journalTable);
  await createTable(client, names.subscriptions, subscriptionsTable);
}

async function createTable(client: DynamoDBClient, tableName: string, schema: TableSchema): Promise<void> {
  const attributes = new Set([schema.partitionKey, ...schema.indexes.map((i) => i.partitionKey)]);
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [...attributes].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
        KeySchema: [{ AttributeName: schema.partitionKey, KeyType: 'HASH' }],
        ...(schema.indexes.length > 0
          ? {
              GlobalSecondaryIndexes: schema.indexes.map((index) => ({
                IndexName: index.name,
                KeySchema: [{ AttributeName: index.partitionKey, KeyType: 'HASH' }],
                Projection: { ProjectionType: 'KEYS_ONLY' },
              })),
            }
          : {}),
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error; // already there (--persist)
  }
  await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 1, maxDelay: 2 }, { TableName: tableName });
  if (schema.ttlAttribute) await enableTimeToLive(client, tableName, schema.ttlAttribute);
}

/**
 * Asks first: DynamoDB (and DynamoDB Local) refuse UpdateTimeToLive on a table whose TTL is
 * already enabled ("TimeToLive is already enabled"), which is every restart with --persist.
 */
async function enableTimeToLive(client: DynamoDBClient, tableName: string, attributeName: string): Promise<void> {
  const { TimeToLiveDescription: current } = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  if (current?.AttributeName === attributeName && (current.TimeToLiveStatus === 'ENABLED' || current.TimeToLiveStatus === 'ENABLING')) return;
  try {
    await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: attributeName, Enabled: true } }));
  } catch (error) {
    // dynalite 4 answers DescribeTimeToLive with DISABLED but has no UpdateTimeToLive: locally,
    // expired records are simply not deleted, which Powertools tolerates (it compares
    // `expiration` with the clock itself).
    if ((error as Error).name !== 'UnknownOperationException') throw error;
  }
}
