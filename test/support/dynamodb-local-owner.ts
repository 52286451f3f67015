import { startDynamoDbLocal } from '../../local/dynamodb-local';

/**
 * A process that owns a DynamoDB Local JVM and nothing else: prints the endpoint, then idles
 * until it is killed. test/integration/dynamodb-backend.test.ts kills it with SIGKILL and
 * checks the JVM went with it.
 */
void startDynamoDbLocal().then(({ endpoint }) => {
  process.stdout.write(`${endpoint}\n`);
  setInterval(() => undefined, 60_000);
});
