import { DescribeTimeToLiveCommand, PutItemCommand, UpdateItemCommand, type ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { createTables, LOCAL_TABLE_NAMES, type LocalDynamoDb } from '../../local/dynamodb';
import { startDynamoDbLocal } from '../../local/dynamodb-local';
import { testDynamoDb } from '../support/dynamodb';

/** The backend the integration and e2e suites run on (chosen once by the jest global setup). */
const backend = process.env.DYNAMODB_BACKEND;
let db: LocalDynamoDb;
beforeAll(async () => {
  db = await testDynamoDb();
  await createTables(db.client);
}, 60_000);
afterAll(() => db?.close());

const answers = async (endpoint: string) => fetch(endpoint, { signal: AbortSignal.timeout(2_000) }).then(() => true, () => false);
async function until(condition: () => Promise<boolean>, timeoutMs: number) {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    if (await condition()) return true;
  }
  return false;
}

it('runs on the backend the global setup chose; under CI=true that is DynamoDB Local', () => {
  expect(['dynamodb-local', 'dynalite']).toContain(backend);
  expect(db.backend).toBe(backend);
  if (process.env.CI === 'true') expect(db.backend).toBe('dynamodb-local');
});

it('creates the tables again on a database that has them (a --persist restart) and leaves TTL on', async () => {
  await createTables(db.client); // DynamoDB refuses a second UpdateTimeToLive: "TimeToLive is already enabled"
  const { TimeToLiveDescription } = await db.client.send(new DescribeTimeToLiveCommand({ TableName: LOCAL_TABLE_NAMES.idempotency }));
  // dynalite has no UpdateTimeToLive and always describes TTL as DISABLED.
  expect(TimeToLiveDescription).toEqual(backend === 'dynamodb-local' ? { TimeToLiveStatus: 'ENABLED', AttributeName: 'expiration' } : { TimeToLiveStatus: 'DISABLED' });
});

it('hands back the item a failed condition saw only on DynamoDB Local (ReturnValuesOnConditionCheckFailure)', async () => {
  const Key = { orderId: { S: 'ord_condition_probe' } };
  await db.client.send(new PutItemCommand({ TableName: LOCAL_TABLE_NAMES.orders, Item: { ...Key, paymentStatus: { S: 'paid' } } }));
  const failed = await db.client
    .send(new UpdateItemCommand({
      TableName: LOCAL_TABLE_NAMES.orders,
      Key,
      UpdateExpression: 'SET paymentStatus = :next',
      ConditionExpression: 'paymentStatus = :expected',
      ExpressionAttributeValues: { ':next': { S: 'expired' }, ':expected': { S: 'pending' } },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    }))
    .then(() => undefined, (error: ConditionalCheckFailedException) => error);
  expect(failed?.name).toBe('ConditionalCheckFailedException');
  expect(failed?.Item).toEqual(backend === 'dynamodb-local' ? { ...Key, paymentStatus: { S: 'paid' } } : undefined);
});

// Only where there is a JVM to watch: without Java the global setup chose dynalite (and said so).
if (backend === 'dynamodb-local') describe('the DynamoDB Local JVM', () => {
  it('stops with stop(): nothing answers on its port afterwards', async () => {
    const jvm = await startDynamoDbLocal();
    expect(await answers(jvm.endpoint)).toBe(true);
    await jvm.stop();
    expect(await answers(jvm.endpoint)).toBe(false);
  }, 60_000);

  it('dies with the process that started it, even one killed with SIGKILL', async () => {
    const owner = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '../support/dynamodb-local-owner.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const endpoint = await new Promise<string>((resolve, reject) => {
      let out = '';
      owner.stdout!.on('data', (chunk) => (out += chunk) && out.includes('\n') && resolve(out.trim()));
      owner.once('exit', (code) => reject(new Error(`owner exited ${code} before starting DynamoDB Local`)));
    });
    expect(await answers(endpoint)).toBe(true);
    owner.kill('SIGKILL');
    expect(await until(async () => !(await answers(endpoint)), 15_000)).toBe(true);
  }, 60_000);
});
