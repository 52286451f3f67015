import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { noJournal, type Journal } from '../domain/journal';
import { optionalEnv } from './env';
import { DynamoDbJournal } from './journal-store';

/** The journal named by JOURNAL_TABLE_NAME, or none (a stack deployed before the journal existed). */
export function journalFromEnv(dynamoDb: DynamoDBClient): Journal {
  const tableName = optionalEnv('JOURNAL_TABLE_NAME');
  return tableName ? new DynamoDbJournal(dynamoDb, tableName) : noJournal;
}
