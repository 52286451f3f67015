import { apiGatewayProxyEvent } from '../../local/api-gateway-event';
import { callerOf, idempotencyKeyOf } from '../../lambdas/shared/request-identity';
import { ProblemError } from '../../lambdas/shared/problem';

const event = (headers: Record<string, string[]>, claims?: Record<string, string>) =>
  apiGatewayProxyEvent({ method: 'POST', path: '/v1/checkouts', resource: '/v1/checkouts', headers, body: null, claims });
const kindOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as ProblemError).kind;
  }
  return 'no error';
};

describe('idempotencyKeyOf', () => {
  const v4 = '8e03978e-40d5-43e8-bc93-6894a57f9324';
  it.each([
    [[v4], v4],
    [[`"${v4}"`], v4],
    [[` ${v4.toUpperCase()} `], v4],
    [['01932c07-a5b6-7c3e-8f00-123456789abc'], '01932c07-a5b6-7c3e-8f00-123456789abc'],
  ])('accepts %j', (values, expected) => expect(idempotencyKeyOf(event({ 'Idempotency-Key': values }))).toBe(expected));

  it('reads the header case-insensitively', () => expect(idempotencyKeyOf(event({ 'idempotency-key': [v4] }))).toBe(v4));

  it.each([
    ['missing', {}, 'idempotencyKeyMissing'],
    ['two headers', { 'Idempotency-Key': [v4, v4] }, 'idempotencyKeyMalformed'],
    ['a comma list', { 'Idempotency-Key': [`${v4},${v4}`] }, 'idempotencyKeyMalformed'],
    ['UUID v1', { 'Idempotency-Key': ['c232ab00-9414-11ec-b3c8-9f6bdeced846'] }, 'idempotencyKeyMalformed'],
    ['a half-quoted value', { 'Idempotency-Key': [`"${v4}`] }, 'idempotencyKeyMalformed'],
    ['a very long value', { 'Idempotency-Key': ['a'.repeat(10_000)] }, 'idempotencyKeyMalformed'],
    ['empty', { 'Idempotency-Key': [''] }, 'idempotencyKeyMalformed'],
  ])('rejects %s', (_, headers, kind) => expect(kindOf(() => idempotencyKeyOf(event(headers)))).toBe(kind));
});

describe('callerOf', () => {
  // test/support/quiet-env.ts configures COGNITO_APP_CLIENT_IDS=local-client, as the local stack does.
  const token = { token_use: 'id', aud: 'local-client' };
  it('takes tenant and user from the authorizer claims only', () => {
    const withHeaders = event({ 'X-Tenant-Id': ['evil'] }, { ...token, 'custom:tenant_id': 'acme', sub: 'alice' });
    expect(callerOf(withHeaders)).toEqual({ tenantId: 'acme', userId: 'alice' });
  });

  it.each([
    ['no claims', undefined],
    ['no tenant', { ...token, sub: 'alice' }],
    ['a tenant with odd characters', { ...token, sub: 'alice', 'custom:tenant_id': 'acme/../globex' }],
    ['an access token', { ...token, token_use: 'access', sub: 'alice', 'custom:tenant_id': 'acme' }],
    ['no token_use', { aud: 'local-client', sub: 'alice', 'custom:tenant_id': 'acme' }],
    ['an ID token of another app client', { ...token, aud: 'someone-elses-client', sub: 'alice', 'custom:tenant_id': 'acme' }],
    ['no aud', { token_use: 'id', sub: 'alice', 'custom:tenant_id': 'acme' }],
  ])('answers 401 with %s', (_, claims) => expect(kindOf(() => callerOf(event({}, claims)))).toBe('unauthorized'));

  it('accepts any of several configured app clients, and none when none is configured', () => {
    const saved = process.env.COGNITO_APP_CLIENT_IDS;
    try {
      process.env.COGNITO_APP_CLIENT_IDS = 'web-client, mobile-client';
      const claims = { token_use: 'id', aud: 'mobile-client', sub: 'alice', 'custom:tenant_id': 'acme' };
      expect(callerOf(event({}, claims))).toEqual({ tenantId: 'acme', userId: 'alice' });
      expect(kindOf(() => callerOf(event({}, { ...claims, aud: 'local-client' })))).toBe('unauthorized');
      delete process.env.COGNITO_APP_CLIENT_IDS;
      expect(kindOf(() => callerOf(event({}, claims)))).toBe('unauthorized');
    } finally {
      process.env.COGNITO_APP_CLIENT_IDS = saved;
    }
  });
});
