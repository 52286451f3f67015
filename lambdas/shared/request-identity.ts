import type { APIGatewayProxyEvent } from 'aws-lambda';
import { headerValues } from './http';
import { ProblemError } from './problem';

/** Who is calling, taken only from what the authorizer verified: never from headers or body. */
export interface Caller {
  tenantId: string;
  userId: string;
}

const CLAIM_PATTERN = /^[\w.@:+-]{1,128}$/;

/**
 * App clients whose ID tokens this API accepts (COGNITO_APP_CLIENT_IDS, comma-separated). The
 * Cognito authorizer accepts any token of the pool: an access token (which carries no tenant
 * we issued) or an ID token of another app client, whose settings we do not control (it might
 * let its users write custom:tenant_id). Unset, no token is accepted: fail closed.
 */
function allowedAppClientIds(): Set<string> {
  return new Set((process.env.COGNITO_APP_CLIENT_IDS ?? '').split(',').map((id) => id.trim()).filter(Boolean));
}

export function callerOf(event: APIGatewayProxyEvent): Caller {
  const claims = (event.requestContext?.authorizer?.claims ?? {}) as Record<string, unknown>;
  if (claims.token_use !== 'id') throw new ProblemError('unauthorized', 'Send a Cognito ID token (token_use "id")');
  if (typeof claims.aud !== 'string' || !allowedAppClientIds().has(claims.aud)) {
    throw new ProblemError('unauthorized', 'The token was issued to an app client this API does not accept');
  }
  const tenantId = claims['custom:tenant_id'];
  const userId = claims.sub;
  if (typeof tenantId !== 'string' || !CLAIM_PATTERN.test(tenantId)) {
    throw new ProblemError('unauthorized', 'The token carries no usable custom:tenant_id claim');
  }
  if (typeof userId !== 'string' || !CLAIM_PATTERN.test(userId)) {
    throw new ProblemError('unauthorized', 'The token carries no usable sub claim');
  }
  return { tenantId, userId };
}

// UUID version 4 or 7, RFC 9562 variant.
const UUID_V4_OR_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/**
 * The Idempotency-Key header (IETF draft: a Structured Field string, so a quoted value is
 * accepted as well as a bare one). Returned lower-cased so case variants are one key.
 */
export function idempotencyKeyOf(event: APIGatewayProxyEvent): string {
  const values = headerValues(event, 'idempotency-key');
  if (values.length === 0) throw new ProblemError('idempotencyKeyMissing');
  if (values.length > 1 || values[0].includes(',')) {
    throw new ProblemError('idempotencyKeyMalformed', 'Send exactly one Idempotency-Key header');
  }
  const raw = values[0].trim();
  const unquoted = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  if (!UUID_V4_OR_V7.test(unquoted)) {
    throw new ProblemError('idempotencyKeyMalformed', 'Use a UUID v4 or v7, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324"');
  }
  return unquoted.toLowerCase();
}
