import { claimsFromAuthorization } from '../../local/api-gateway';
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
