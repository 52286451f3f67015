import { AsyncLocalStorage } from 'node:async_hooks';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import type { JSONObject } from '@aws-lambda-powertools/commons/types';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { requestFingerprint, type IdempotentRequest, type Operation } from '../domain/idempotency-scope';
import type { PaymentGateway } from '../domain/ports';
import { parseJsonBody, respond, type HttpResult } from './http';
import { callerOf, idempotencyKeyOf } from './request-identity';
import type { Journal } from '../domain/journal';

export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

/** Per request: when the in-progress lock we ran into expires (set only on a conflict). */
const lockSeen = new AsyncLocalStorage<{ expiresAtMs?: number; takenAtMs?: number }>();

/**
 * Powertools 2.35 reads the conflicting record but throws IdempotencyAlreadyInProgressError
 * without it; this layer notes the record's in-progress expiry on the way, so the 409 can say
 * how long the lock really lasts (after a crash: until that invocation's deadline).
 */
class LockAwarePersistenceLayer extends DynamoDBPersistenceLayer {
  override processExistingRecord(...args: Parameters<DynamoDBPersistenceLayer['processExistingRecord']>) {
    const seen = lockSeen.getStore();
    if (seen) {
      seen.expiresAtMs = args[0].inProgressExpiryTimestamp;
      // The record's TTL was set when the lock was taken: expiry − TTL is when that was.
      if (args[0].expiryTimestamp !== undefined) seen.takenAtMs = (args[0].expiryTimestamp - this.expiresAfterSeconds) * 1000;
    }
    return super.processExistingRecord(...args);
  }
}

/** Set on IdempotencyAlreadyInProgressError when the lock's expiry and age are known (epoch ms). */
export interface InProgressConflict extends Error {
  lockExpiresAtMs?: number;
  lockTakenAtMs?: number;
}

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
  const persistenceStore = new LockAwarePersistenceLayer({
    tableName: options.tableName,
    awsSdkV3Client: options.dynamoDb,
  });
  const runOnce = makeIdempotent(step, { persistenceStore, config, keyPrefix: options.operation });
  return (request, context) => {
    // The in-progress lock expires with the invocation, so a crashed run frees the key.
    config.registerLambdaContext(context);
    const seen: { expiresAtMs?: number; takenAtMs?: number } = {};
    return lockSeen.run(seen, () => runOnce(request)).catch((error: unknown) => {
      if (error instanceof Error && error.name === 'IdempotencyAlreadyInProgressError' && seen.expiresAtMs) {
        Object.assign(error, { lockExpiresAtMs: seen.expiresAtMs, lockTakenAtMs: seen.takenAtMs } satisfies Omit<InProgressConflict, keyof Error>);
      }
      throw error;
    });
  };
}

/** What a route that creates something at Stripe needs. */
export interface PaymentRouteDeps {
  dynamoDb: DynamoDBClient;
  ordersTableName: string;
  idempotencyTableName: string;
  gateway: PaymentGateway;
  /** Where the business step records its calls to Stripe. @default none */
  journal?: Journal;
  /** @default 86400 */
  idempotencyTtlSeconds?: number;
  now?: () => Date;
}

/**
 * The HTTP side of an idempotent POST: caller and Idempotency-Key from the request, the body
 * through the schema (errors answered here, before any record exists), then the step, once.
 */
export function idempotentRoute<Payload>(
  options: { operation: Operation; parse: (body: unknown) => Payload; deps: PaymentRouteDeps },
  step: (request: IdempotentRequest<Payload>) => Promise<HttpResult>,
) {
  const { operation, parse, deps } = options;
  const runOnce = idempotentStep<Payload>(
    { operation, tableName: deps.idempotencyTableName, dynamoDb: deps.dynamoDb, expiresAfterSeconds: deps.idempotencyTtlSeconds },
    step,
  );
  return (event: APIGatewayProxyEvent, context: Context) =>
    respond(event, async () => {
      const caller = callerOf(event);
      const key = idempotencyKeyOf(event);
      const payload = parse(parseJsonBody(event));
      return runOnce({ scope: { ...caller, key }, payload, fingerprint: requestFingerprint(payload) }, context);
    });
}
