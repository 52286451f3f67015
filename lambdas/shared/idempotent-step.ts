import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import type { JSONObject } from '@aws-lambda-powertools/commons/types';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { Context } from 'aws-lambda';
import type { IdempotentRequest } from '../domain/idempotency-scope';
import type { HttpResult } from './http';

export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

export interface IdempotentStepOptions {
  /** Powertools key prefix; one persistence layer per operation (they are configured once). */
  readonly operation: string;
  readonly tableName: string;
  readonly dynamoDb: DynamoDBClient;
  /** How long a completed result is replayed. @default 86400 (24 h) */
  readonly expiresAfterSeconds?: number;
}

/**
 * Wraps a business step with Powertools idempotency, keyed on `scope` and validated on
 * `payload`: same scope + same payload replays the stored result (marked `replayed`), same scope
 * + other payload throws IdempotencyValidationError (422), a concurrent run throws
 * IdempotencyAlreadyInProgressError (409). If the step throws, Powertools deletes the record so
 * the key can be retried; if the store is down, the step never runs (fail closed).
 */
export function idempotentStep<Payload>(
  options: IdempotentStepOptions,
  step: (request: IdempotentRequest<Payload>) => Promise<HttpResult>,
): (request: IdempotentRequest<Payload>, context: Context) => Promise<HttpResult> {
  const config = new IdempotencyConfig({
    eventKeyJmesPath: 'scope',
    payloadValidationJmesPath: 'payload',
    throwOnNoIdempotencyKey: true,
    expiresAfterSeconds: options.expiresAfterSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS,
    responseHook: (response) => ({ ...(response as JSONObject), replayed: true }),
  });
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName: options.tableName,
    awsSdkV3Client: options.dynamoDb,
  });
  const runOnce = makeIdempotent(step, { persistenceStore, config, keyPrefix: options.operation });
  return (request, context) => {
    // The in-progress lock expires with the invocation, so a crashed run frees the key.
    config.registerLambdaContext(context);
    return runOnce(request);
  };
}
