import {
  CreateTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import type { AddressInfo } from 'node:net';
import { idempotencyTable, ordersTable, subscriptionsTable, type TableSchema } from '../lib/tables';

// dynalite ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: { path?: string; createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => import('node:http').Server;

export interface LocalDynamoDb {
  backend: 'dynamodb-local' | 'dynalite';
  endpoint: string;
  client: DynamoDBClient;
  close(): Promise<void>;
}

/** dynalite: in memory, or on disk (LevelDB) when `path` is given. Tables become ACTIVE at once. */
export async function startDynalite(options: { port?: number; path?: string } = {}): Promise<LocalDynamoDb> {
  const server = dynalite({ path: options.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = localDynamoDbClient(endpoint);
  return {
    backend: 'dynalite',
    endpoint,
    client,
    close: () =>
      new Promise<void>((resolve) => {
        client.destroy();
        server.close(() => resolve());
      }),
  };
}

export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export function localDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
}

export interface TableNames {
  idempotency: string;
  orders: string;
  subscriptions: string;
}

export const LOCAL_TABLE_NAMES: TableNames = { idempotency: 'payments-idempotency', orders: 'payments-orders', subscriptions: 'payments-subscriptions' };

/** Creates the tables from the same schemas the CDK stack deploys (lib/tables.ts). */
export async function createTables(client: DynamoDBClient, names: TableNames = LOCAL_TABLE_NAMES): Promise<void> {
  await createTable(client, names.idempotency, idempotencyTable);
  await createTable(client, names.orders, ordersTable);
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
  if (schema.ttlAttribute) {
    try {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: tableName,
          TimeToLiveSpecification: { AttributeName: schema.ttlAttribute, Enabled: true },
        }),
      );
    } catch (error) {
      // dynalite 4 has no UpdateTimeToLive: locally, expired records are simply not deleted,
      // which Powertools tolerates (it compares `expiration` with the clock itself).
      if ((error as Error).name !== 'UnknownOperationException') throw error;
    }
  }
}
