import { randomUUID } from 'node:crypto';
import { chooseDynamoDbBackend, connectLocalDynamoDb, startLocalDynamoDb, type LocalDynamoDb } from '../../local/dynamodb';
import { SHARED_DYNAMODB_LOCAL_ENV } from './dynamodb-global-setup';

/**
 * An empty database for one test file, on the tests' backend. On DynamoDB Local that is the one
 * JVM the jest global setup started, under an access key of this file's own: DynamoDB Local
 * keeps a separate database per access key, so files cannot see each other's tables and the
 * table names stay the deployed ones. On dynalite it is a fresh in-process server.
 */
export async function testDynamoDb(): Promise<LocalDynamoDb> {
  const endpoint = process.env[SHARED_DYNAMODB_LOCAL_ENV.endpoint];
  if (endpoint) {
    return connectLocalDynamoDb({
      backend: 'dynamodb-local',
      description: `DynamoDB Local ${process.env[SHARED_DYNAMODB_LOCAL_ENV.version]} (shared JVM)`,
      endpoint,
      credentials: { accessKeyId: `test${randomUUID().replace(/-/g, '')}`, secretAccessKey: 'local' },
    });
  }
  return startLocalDynamoDb({ backend: chooseDynamoDbBackend().backend });
}
