import { defineCli, integerOption, parseCli, runCli } from './cli';

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

const cli = defineCli({
  command: 'npm run -s token --',
  summary: 'Prints an ID token for the local API (unsigned: the local API Gateway does not verify signatures, Cognito does).',
  options: {
    tenant: { type: 'string', value: 'id', default: 'acme', description: 'tenant (the custom:tenant_id claim)' },
    user: { type: 'string', value: 'id', default: 'alice', description: 'user (the sub claim)' },
    ttl: { type: 'string', value: 'seconds', default: '3600', description: 'lifetime; 0 gives a token that is already expired' },
  },
  examples: ['TOKEN=$(npm run -s token -- --tenant acme --user bob --ttl 600)'],
});

if (require.main === module) {
  const { values } = parseCli(cli);
  runCli(cli, async () => {
    console.log(localToken(values.tenant, values.user, integerOption('ttl', values.ttl)));
  });
}
