import { parseArgs } from 'node:util';

/**
 * `npm run token -- --tenant acme --user alice`: prints a Cognito-shaped ID token for the local
 * API Gateway, which decodes it without verifying the signature. Useless against the deployed
 * stack, whose Cognito authorizer verifies signatures.
 */
/** The app client id local tokens carry; the local stack accepts it (COGNITO_APP_CLIENT_IDS). */
export const LOCAL_APP_CLIENT_ID = 'local-client';

export function localToken(tenantId: string, userId: string, ttlSeconds = 3600): string {
  const now = Math.floor(Date.now() / 1000);
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const claims = {
    sub: userId,
    'custom:tenant_id': tenantId,
    email: `${userId}@${tenantId}.local`,
    token_use: 'id',
    iss: 'https://cognito-idp.local/local_userpool',
    aud: LOCAL_APP_CLIENT_ID,
    iat: now,
    exp: now + ttlSeconds,
  };
  return `${encode({ alg: 'none', typ: 'JWT', kid: 'local' })}.${encode(claims)}.unsigned`;
}

if (require.main === module) {
  const { values } = parseArgs({ options: { tenant: { type: 'string', default: 'acme' }, user: { type: 'string', default: 'alice' } } });
  console.log(localToken(values.tenant!, values.user!));
}
