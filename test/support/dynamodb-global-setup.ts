import { GetItemCommand, PutItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { chooseDynamoDbBackend, connectLocalDynamoDb, createTables, LOCAL_TABLE_NAMES } from '../../local/dynamodb';
import { startDynamoDbLocal, type DynamoDbLocalProcess } from '../../local/dynamodb-local';
import { ordersTable } from '../../lib/tables';

/** How the global setup tells the test files (in jest's workers) where the shared JVM is. */
export const SHARED_DYNAMODB_LOCAL_ENV = { endpoint: 'TEST_DYNAMODB_LOCAL_ENDPOINT', version: 'TEST_DYNAMODB_LOCAL_VERSION' };

const running = globalThis as { sharedDynamoDbLocal?: DynamoDbLocalProcess };

/**
 * jest globalSetup of the integration and e2e projects: one DynamoDB Local JVM for the whole
 * run (a JVM per test file costs about 2 s of start-up and runs cold). Both projects name this
 * file; the second call finds the JVM already running.
 */
export default async function globalSetup(): Promise<void> {
  if (running.sharedDynamoDbLocal || process.env[SHARED_DYNAMODB_LOCAL_ENV.endpoint]) return;
  const { backend, notice } = chooseDynamoDbBackend(); // throws with CI=true and no Java
  if (notice) console.warn(`\n${notice}`);
  // Workers and the child processes tests spawn (`npm start`) inherit the decision.
  process.env.DYNAMODB_BACKEND = backend;
  if (backend !== 'dynamodb-local') return;
  const jvm = await startDynamoDbLocal(); // in memory, a database per access key, a free port
  running.sharedDynamoDbLocal = jvm;
  process.env[SHARED_DYNAMODB_LOCAL_ENV.endpoint] = jvm.endpoint;
  process.env[SHARED_DYNAMODB_LOCAL_ENV.version] = jvm.version;
  await warmUp(jvm.endpoint);
}

/**
 * A fresh JVM answers its first requests of each kind slowly (class loading, interpreted code):
 * hundreds of milliseconds on a busy machine, enough to miss the 400 ms invocation deadline the
 * fault-injection suite gives its control run. A few hundred of the writes our code makes, in a
 * database of their own, warm it up before any test runs.
 */
async function warmUp(endpoint: string): Promise<void> {
  const db = connectLocalDynamoDb({ backend: 'dynamodb-local', description: 'warm-up', endpoint, credentials: { accessKeyId: 'warmup', secretAccessKey: 'warmup' } });
  try {
    await createTables(db.client);
    const TableName = LOCAL_TABLE_NAMES.orders;
    for (let i = 0; i < 150; i++) {
      const Key = { orderId: { S: `ord_warmup_${i}` } };
      await db.client.send(new PutItemCommand({ TableName, Item: { ...Key, paymentIntentId: { S: `pi_${i}` }, status: { S: 'pending' }, version: { N: '1' } }, ConditionExpression: 'attribute_not_exists(orderId)' }));
      const update = (expected: string) =>
        new UpdateItemCommand({
          TableName,
          Key,
          UpdateExpression: 'SET #status = :paid, version = version + :one',
          ConditionExpression: '#status = :expected',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':paid': { S: 'paid' }, ':expected': { S: expected }, ':one': { N: '1' } },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        });
      await db.client.send(update('pending'));
      await db.client.send(update('pending')).catch(() => undefined); // the failed-condition path
      await db.client.send(new GetItemCommand({ TableName, Key, ConsistentRead: true }));
      await db.client.send(new QueryCommand({ TableName, IndexName: ordersTable.paymentIntentIndex, KeyConditionExpression: 'paymentIntentId = :pi', ExpressionAttributeValues: { ':pi': { S: `pi_${i}` } } }));
    }
  } finally {
    await db.close();
  }
}
