import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { OrderNotFoundError, PaymentProviderUnavailableError, RefundInProgressError } from '../domain/errors';
import { RequestValidationError } from '../domain/validation';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger, metrics } from './observability';
import { ProblemError, problemBody, type ProblemKind } from './problem';
import { withProblemLink } from './problem-links';

/** What a business step returns: stored in the idempotency record and replayed verbatim. */
export interface HttpResult {
  statusCode: number;
  body: unknown;
  /** Set by the idempotency layer when the result comes from a stored record. */
  replayed?: boolean;
}

export const result = (statusCode: number, body: unknown): HttpResult => ({ statusCode, body });
export const problemResult = (kind: ProblemKind, detail?: string, extensions?: Record<string, unknown>) => {
  const body = problemBody(kind, detail, extensions);
  return result(body.status, body);
};

export function toApiGatewayResponse(
  { statusCode, body, replayed }: HttpResult,
  extraHeaders: Record<string, string> = {},
): APIGatewayProxyResult {
  const headers: Record<string, string> = {
    'Content-Type': statusCode >= 400 ? 'application/problem+json' : 'application/json',
    'Cache-Control': 'no-store',
    ...extraHeaders,
  };
  if (replayed) headers['Idempotent-Replayed'] = 'true';
  return { statusCode, headers, body: JSON.stringify(body) };
}

const SECONDS_BEFORE_RETRY = { inProgress: 1, unavailable: 2, unexpected: 1 } as const;

/** The 409's Retry-After never says more than this, whatever the lock's remaining life. */
export const MAX_IN_PROGRESS_RETRY_AFTER_SECONDS = 10;
/** A lock younger than this most likely belongs to a request that is about to finish (a double click). */
const YOUNG_LOCK_MS = 3000;

/**
 * A 409's Retry-After. A young lock is a live request finishing soon: 1 s. An older one may be
 * held by a crashed invocation until its deadline: the time left on it (noted by
 * idempotent-step.ts), at most 10 s, so clients do not poll a dead lock every second.
 */
function secondsUntilLockExpires(error: Error, now = Date.now()): number {
  const { lockExpiresAtMs, lockTakenAtMs } = error as { lockExpiresAtMs?: number; lockTakenAtMs?: number };
  if (!lockExpiresAtMs || (lockTakenAtMs !== undefined && now - lockTakenAtMs < YOUNG_LOCK_MS)) return SECONDS_BEFORE_RETRY.inProgress;
  return Math.min(MAX_IN_PROGRESS_RETRY_AFTER_SECONDS, Math.max(SECONDS_BEFORE_RETRY.inProgress, Math.ceil((lockExpiresAtMs - now) / 1000)));
}

const isAwsServiceError = (error: Error) =>
  '$metadata' in error || ['TimeoutError', 'ECONNREFUSED', 'ECONNRESET'].includes((error as NodeJS.ErrnoException).code ?? error.name);

/**
 * The single error-to-response mapper. Known client mistakes keep their problem type; anything
 * transient becomes 503 + Retry-After (the idempotency key was released, the retry runs again);
 * anything else is a 500 without internals.
 */
export function errorToResponse(error: unknown): APIGatewayProxyResult {
  const problem = (kind: ProblemKind, retryAfterSeconds?: number, detail?: string) =>
    toApiGatewayResponse(
      problemResult(kind, detail),
      retryAfterSeconds ? { 'Retry-After': String(retryAfterSeconds) } : {},
    );

  if (error instanceof ProblemError) {
    return toApiGatewayResponse(
      result(error.body.status, error.body),
      error.retryAfterSeconds ? { 'Retry-After': String(error.retryAfterSeconds) } : {},
    );
  }
  if (error instanceof RequestValidationError) {
    return toApiGatewayResponse(problemResult('validation', error.message, { errors: error.errors }));
  }
  if (!(error instanceof Error)) {
    logger.error('Non-error thrown', { thrown: String(error) });
    return problem('internalError', SECONDS_BEFORE_RETRY.unexpected);
  }
  switch (error.name) {
    case 'IdempotencyAlreadyInProgressError':
    case 'IdempotencyInconsistentStateError':
      metrics.addMetric('IdempotencyConflict', MetricUnit.Count, 1);
      return problem('idempotencyRequestInProgress', secondsUntilLockExpires(error));
    case 'IdempotencyValidationError':
      metrics.addMetric('IdempotencyMismatch', MetricUnit.Count, 1);
      return problem('idempotencyKeyReused');
    case 'IdempotencyPersistenceLayerError':
      logger.error('Idempotency store unavailable', { error });
      return problem('storageUnavailable', SECONDS_BEFORE_RETRY.unavailable);
  }
  if (error instanceof RefundInProgressError) return problem('idempotencyRequestInProgress', SECONDS_BEFORE_RETRY.inProgress);
  if (error.name === 'StripeIdempotencyMismatchError') {
    // Stripe saw our derived key with other parameters: the same request key with another body
    // that no record of ours remembered. Not stored (thrown), so the original can still complete.
    metrics.addMetric('StripeIdempotencyMismatch', MetricUnit.Count, 1);
    logger.error('Stripe refused a reused idempotency key; our fingerprint check missed it');
    return problem('idempotencyKeyReused');
  }
  if (error instanceof PaymentProviderUnavailableError) {
    logger.warn('Stripe unavailable', { error });
    return problem('paymentProviderUnavailable', SECONDS_BEFORE_RETRY.unavailable);
  }
  if (isAwsServiceError(error)) {
    logger.error('AWS dependency unavailable', { error });
    return problem('storageUnavailable', SECONDS_BEFORE_RETRY.unavailable);
  }
  if (error instanceof OrderNotFoundError) return problem('notFound');
  logger.error('Unexpected error', { error });
  return problem('internalError', SECONDS_BEFORE_RETRY.unexpected);
}

/**
 * Runs a request and answers with its result or its mapped error; never throws. A problem
 * answer links to its type's documentation, as the request's own base URL names it.
 */
export async function respond(event: APIGatewayProxyEvent, step: () => Promise<HttpResult>): Promise<APIGatewayProxyResult> {
  try {
    const outcome = await step();
    if (outcome.replayed) metrics.addMetric('IdempotentReplay', MetricUnit.Count, 1);
    return withProblemLink(event, toApiGatewayResponse(outcome));
  } catch (error) {
    return withProblemLink(event, errorToResponse(error));
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}

/** All values of a header, case-insensitively, from both the single and multi-value maps. */
export function headerValues(event: APIGatewayProxyEvent, name: string): string[] {
  const wanted = name.toLowerCase();
  for (const [key, values] of Object.entries(event.multiValueHeaders ?? {})) {
    if (key.toLowerCase() === wanted && values && values.length > 0) return values;
  }
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return [value];
  }
  return [];
}

/** The exact bytes the client sent: API Gateway base64-encodes binary media types. */
export function rawBody(event: APIGatewayProxyEvent): Buffer {
  if (event.body == null) return Buffer.alloc(0);
  return Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
}

export const MAX_JSON_BODY_BYTES = 64 * 1024;

export function parseJsonBody(event: APIGatewayProxyEvent): unknown {
  const contentType = headerValues(event, 'content-type')[0];
  if (contentType !== undefined && !/^application\/([\w.+-]+\+)?json\b/i.test(contentType.trim())) {
    throw new ProblemError('unsupportedMediaType', `Content-Type ${contentType.slice(0, 100)} is not JSON`);
  }
  const bytes = rawBody(event);
  if (bytes.length > MAX_JSON_BODY_BYTES) {
    throw new ProblemError('payloadTooLarge', `The body must be at most ${MAX_JSON_BODY_BYTES} bytes`);
  }
  const text = bytes.toString('utf8');
  if (text.trim() === '') throw new ProblemError('malformedJson', 'The request body is empty');
  try {
    return JSON.parse(text);
  } catch {
    throw new ProblemError('malformedJson');
  }
}
