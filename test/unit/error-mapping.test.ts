import {
  IdempotencyAlreadyInProgressError,
  IdempotencyPersistenceLayerError,
  IdempotencyValidationError,
} from '@aws-lambda-powertools/idempotency';
import { PaymentProviderUnavailableError } from '../../lambdas/domain/errors';
import { RequestValidationError } from '../../lambdas/domain/validation';
import { errorToResponse } from '../../lambdas/shared/http';
import { problemTypeUri, type ProblemKind } from '../../lambdas/shared/problem';

describe('errorToResponse', () => {
  it.each([
    [new IdempotencyAlreadyInProgressError('busy'), 409, 'idempotencyRequestInProgress', '1'],
    [new IdempotencyValidationError('different payload'), 422, 'idempotencyKeyReused', undefined],
    [new IdempotencyPersistenceLayerError('ddb down'), 503, 'storageUnavailable', '2'],
    [new PaymentProviderUnavailableError('stripe 500'), 503, 'paymentProviderUnavailable', '2'],
    [Object.assign(new Error('throttled'), { name: 'ThrottlingException', $metadata: {} }), 503, 'storageUnavailable', '2'],
    [new RequestValidationError([{ pointer: '/a', detail: 'bad' }]), 400, 'validation', undefined],
    [new TypeError("Cannot read properties of undefined (reading 'x')"), 500, 'internalError', '1'],
    ['a thrown string', 500, 'internalError', '1'],
  ] as const)('maps %p to %i %s', (error, status, kind, retryAfter) => {
    const response = errorToResponse(error);
    const body = JSON.parse(response.body);
    expect(response.statusCode).toBe(status);
    expect(response.headers?.['Content-Type']).toBe('application/problem+json');
    expect(response.headers?.['Retry-After']).toBe(retryAfter);
    expect(body).toMatchObject({ type: problemTypeUri(kind as ProblemKind), status });
  });

  it('never shows internals', () => {
    const error = new TypeError('secret internal detail');
    const body = errorToResponse(error).body;
    expect(body).not.toContain('secret internal detail');
    expect(body).not.toContain('at ');
  });
});
