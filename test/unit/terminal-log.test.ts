import { handlerLine, requestLine } from '../../local/terminal-log';

describe('npm start terminal lines', () => {
  const at = new Date('2026-11-23T10:11:12Z');

  it('says what happened to a request in words', () => {
    expect(requestLine({ method: 'POST', path: '/v1/checkouts', status: 201, ms: 12, replayed: false }, at)).toBe('10:11:12 POST /v1/checkouts  201 created  12 ms');
    expect(requestLine({ method: 'POST', path: '/v1/checkouts', status: 201, ms: 3, replayed: true }, at)).toMatch(/201 replayed the stored answer \(same Idempotency-Key\)/);
    expect(requestLine({ method: 'POST', path: '/v1/refunds', status: 422, ms: 5, replayed: false, problemType: 'urn:payments:problem:refund-exceeds-balance' }, at)).toMatch(/422 refused: refund exceeds balance/);
    expect(requestLine({ method: 'POST', path: '/v1/refunds', status: 409, ms: 5, replayed: false, problemType: 'urn:payments:problem:idempotency-request-in-progress' }, at)).toMatch(/still running/);
    expect(requestLine({ method: 'GET', path: '/v1/orders/x', status: 503, ms: 5, replayed: false, problemType: 'urn:payments:problem:storage-unavailable' }, at)).toMatch(/503 failed: storage unavailable \(the client may retry/);
  });

  it('turns a processed event into one line with its outcome explained', () => {
    const handled = { level: 'INFO', message: 'Stripe event handled', timestamp: at.toISOString(), stripeEventId: 'evt_1', stripeEventType: 'checkout.session.completed', orderId: 'ord_1', ms: 7 };
    expect(handlerLine({ ...handled, outcome: 'applied', duplicate: false }, 'info')).toBe('10:11:12 EVENT checkout.session.completed evt_1 → order ord_1: applied to the order  7 ms');
    expect(handlerLine({ ...handled, outcome: 'stale', duplicate: false }, 'info')).toMatch(/nothing to change: the order already reflects this or a later event/);
    expect(handlerLine({ ...handled, outcome: 'applied', duplicate: true }, 'info')).toMatch(/duplicate delivery: already handled, nothing done/);
    expect(handlerLine({ ...handled, outcome: 'some-new-outcome' }, 'info')).toMatch(/: some-new-outcome/);
    const failed = { level: 'WARN', message: 'Stripe event failed; SQS will retry it', timestamp: at.toISOString(), stripeEventId: 'evt_2', stripeEventType: 'charge.refunded', receiveCount: '2', error: { message: 'order not paid yet' } };
    expect(handlerLine(failed, 'info')).toBe('10:11:12 EVENT charge.refunded evt_2 → not applied (receive 2; SQS retries it, then the DLQ): order not paid yet');
  });

  it('hides other informational lines below debug and everything below the chosen level', () => {
    const enqueued = { level: 'INFO', message: 'Stripe event enqueued', stripeEventId: 'evt_1' };
    expect(handlerLine(enqueued, 'info')).toBeUndefined();
    expect(handlerLine(enqueued, 'debug')).toMatch(/INFO Stripe event enqueued {2}stripeEventId=evt_1/);
    expect(handlerLine({ level: 'INFO', message: 'Stripe event handled', outcome: 'applied' }, 'warn')).toBeUndefined();
    expect(handlerLine({ level: 'ERROR', message: 'Unexpected error', error: { name: 'TypeError' } }, 'warn')).toMatch(/ERROR Unexpected error {2}error=\{"name":"TypeError"\}/);
  });
});
