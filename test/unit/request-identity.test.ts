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
  it('takes tenant and user from the authorizer claims only', () => {
    const withHeaders = event({ 'X-Tenant-Id': ['evil'] }, { 'custom:tenant_id': 'acme', sub: 'alice' });
    expect(callerOf(withHeaders)).toEqual({ tenantId: 'acme', userId: 'alice' });
  });

  it.each([
    ['no claims', undefined],
    ['no tenant', { sub: 'alice' }],
    ['a tenant with odd characters', { sub: 'alice', 'custom:tenant_id': 'acme/../globex' }],
  ])('answers 401 with %s', (_, claims) => expect(kindOf(() => callerOf(event({}, claims)))).toBe('unauthorized'));
});
