import { authorize, claimsFromAuthorization } from '../../local/api-gateway';
import { localToken } from '../../local/token';

describe('local Cognito authorizer stand-in', () => {
  it('reads the claims of a token from `npm run token`', () => {
    expect(claimsFromAuthorization(`Bearer ${localToken('acme', 'alice')}`)).toMatchObject({ 'custom:tenant_id': 'acme', sub: 'alice', token_use: 'id' });
  });

  it.each([
    ['no header', undefined],
    ['no Bearer', localToken('acme', 'alice')],
    ['an expired token', `Bearer ${localToken('acme', 'alice', -10)}`],
    ['garbage', 'Bearer a.b.c'],
  ])('refuses %s', (_, header) => expect(claimsFromAuthorization(header)).toBeUndefined());
});

describe('local authorizer refusals, in Cognito\'s words', () => {
  it('tells an expired token from a missing or malformed one', () => {
    expect(authorize(`Bearer ${localToken('acme', 'alice', 0)}`)).toEqual({ refusal: 'The incoming token has expired' });
    expect(authorize(undefined)).toEqual({ refusal: 'Unauthorized' });
    expect(authorize('Bearer a.b.c')).toEqual({ refusal: 'Unauthorized' });
    expect(authorize(`Bearer ${localToken('acme', 'alice', 60)}`)).toMatchObject({ claims: { sub: 'alice' } });
  });
});
