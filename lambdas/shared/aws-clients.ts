import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { optionalEnv } from './env';

/**
 * SDK clients, created once per container. DYNAMODB_ENDPOINT / SQS_ENDPOINT point them at the
 * local stack; unset, the SDK uses the Region's AWS endpoints.
 */
export function dynamoDbClient(): DynamoDBClient {
  const endpoint = optionalEnv('DYNAMODB_ENDPOINT');
  return new DynamoDBClient({ ...(endpoint ? { endpoint } : {}), maxAttempts: 3 });
}

export function sqsClient(): SQSClient {
  const endpoint = optionalEnv('SQS_ENDPOINT');
  return new SQSClient({ ...(endpoint ? { endpoint } : {}), maxAttempts: 3 });
}
