import {
  MemoryKeyStore,
  PaymentsApiError,
  PaymentsClient,
  RetriesExhaustedError,
  StorageKeyStore,
  TokenError,
  UnresolvedOperationError,
  UnsupportedEnvironmentError,
  browserKeyStore,
  retryAfterMs,
  type FetchInit,
  type FetchResponse,
  type PaymentsClientOptions,
  type StorageLike,
} from '../../client/payments-client';

/**
 * The client's key lifecycle and retry rules against a fake `fetch` that behaves like the API's
 * idempotency layer (a record per key: replay for the same body, 422 for another) and counts
 * what it created. Faults are queued per request.
 */
interface Sent {
  method: string;
  path: string;
  key: string | undefined;
  body: string | undefined;
  authorization: string | undefined;
  signal: FetchInit['signal'];
}
interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
type Fault = (sent: Sent, serve: () => Reply) => FetchResponse | Promise<FetchResponse>;

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const problem = (status: number, name: string, headers: Record<string, string> = {}): Reply => ({
  status,
  body: { type: `urn:payments:problem:${name}`, title: name, status },
  headers: { 'content-type': 'application/problem+json', ...headers },
});
const toResponse = (status: number, text: string, headers: Record<string, string> = {}): FetchResponse => {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { status, headers: { get: (name) => lower[name.toLowerCase()] ?? null }, text: async () => text };
};
const fromReply = (reply: Reply) => toResponse(reply.status, reply.body === undefined ? '' : JSON.stringify(reply.body), reply.headers);

function fakeApi() {
  const records = new Map<string, { body: string | undefined; reply: Reply }>();
  const state = { sent: [] as Sent[], orders: 0, refunds: 0, paid: false, refundable: 1000 };
  const faults: Fault[] = [];

  const decide = (sent: Sent): Reply => {
    if (sent.method === 'GET') return { status: 200, body: { orderId: 'ord_1', status: state.paid ? 'paid' : 'pending' } };
    if (sent.path === '/v1/checkouts') {
      state.orders++;
      return { status: 201, body: { orderId: `ord_${state.orders}`, status: 'pending', checkoutSessionId: `cs_${state.orders}`, checkoutUrl: null } };
    }
    if (sent.path === '/v1/subscriptions') return { status: 201, body: { subscriptionId: 'sbr_1', status: 'checkout_open', checkoutSessionId: 'cs_sub_1', checkoutUrl: null } };
    if (sent.path.endsWith('/cancel')) return { status: 200, body: { subscriptionId: 'sbr_1', status: 'active', cancelAtPeriodEnd: true } };
    const { amount } = JSON.parse(sent.body!) as { amount: number };
    if (!state.paid) return problem(409, 'order-not-refundable');
    if (amount > state.refundable) return problem(422, 'refund-exceeds-balance');
    state.refundable -= amount;
    state.refunds++;
    return { status: 201, body: { refundId: `rfd_${state.refunds}`, orderId: 'ord_1', amount, currency: 'eur', status: 'succeeded' } };
  };
  const serve = (sent: Sent): Reply => {
    if (sent.method === 'GET') return decide(sent);
    if (!sent.key) return problem(400, 'idempotency-key-missing');
    const record = records.get(sent.key);
    if (record) return record.body === sent.body ? { ...record.reply, headers: { ...record.reply.headers, 'idempotent-replayed': 'true' } } : problem(422, 'idempotency-key-reused');
    const reply = decide(sent);
    records.set(sent.key, { body: sent.body, reply });
    return reply;
  };
  const fetch = async (url: string, init: FetchInit): Promise<FetchResponse> => {
    const sent: Sent = {
      method: init.method,
      path: new URL(url).pathname,
      key: init.headers['Idempotency-Key']?.replace(/"/g, ''),
      body: init.body,
      authorization: init.headers['Authorization'],
      signal: init.signal,
    };
    state.sent.push(sent);
    const fault = faults.shift();
    return fault ? fault(sent, () => serve(sent)) : fromReply(serve(sent));
  };
  return { fetch, state, faults, keysSent: () => state.sent.map((s) => s.key) };
}

/** The server acted; the client never heard. */
const lost: Fault = (_, serve) => {
  serve();
  throw new TypeError('fetch failed: socket hang up');
};
const answer =
  (reply: Reply): Fault =>
  () =>
    fromReply(reply);
/** Resolves only when the attempt is aborted — or never, if `ignoreAbort`. */
const hang =
  (ignoreAbort = false): Fault =>
  (sent) =>
    new Promise((_, reject) => {
      if (!ignoreAbort) (sent.signal as AbortSignal | undefined)?.addEventListener('abort', () => reject(new Error('aborted')));
    });

const client = (api: ReturnType<typeof fakeApi>, options: Partial<PaymentsClientOptions> = {}) =>
  new PaymentsClient({
    baseUrl: 'https://api.example',
    token: () => 'token-1',
    fetch: api.fetch,
    keyStore: new MemoryKeyStore(),
    sleep: async () => undefined,
    random: () => 0.5,
    ...options,
  });
const cart = (quantity = 1) => ({ lineItems: [{ price: 'price_1', quantity }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/cart' });
const fakeStorage = () => {
  const items = new Map<string, string>();
  const storage: StorageLike = {
    getItem: (name) => items.get(name) ?? null,
    setItem: (name, value) => void items.set(name, value),
    removeItem: (name) => void items.delete(name),
    get length() {
      return items.size;
    },
    key: (index) => [...items.keys()][index] ?? null,
  };
  return { items, storage };
};
/** Gives up after the first failed attempt: the backoff (200 ms) would end past the budget. */
const giveUpAfterOneAttempt = { maxElapsedMs: 100, baseDelayMs: 400 } as const;
const rejection = (promise: Promise<unknown>) => promise.then(() => new Error('resolved, expected a rejection'), (error: unknown) => error);

describe('safe by default', () => {
  it('refuses a create without an operationId and sends nothing', async () => {
    const api = fakeApi();
    const payments = client(api);
    // @ts-expect-error the operation identity is required
    const error = await rejection(payments.createRefund({ orderId: 'ord_1', amount: 100 }));
    expect(error).toBeInstanceOf(TypeError);
    expect(await rejection(payments.createCheckout(cart(), { operationId: '' }))).toBeInstanceOf(TypeError);
    expect(api.state.sent).toHaveLength(0);
  });

  it('two same-tick calls of one operation share one request and one answer', async () => {
    const api = fakeApi();
    api.state.paid = true;
    const payments = client(api);
    const [first, second] = await Promise.all([
      payments.createRefund({ orderId: 'ord_1', amount: 100 }, { operationId: 'refund-1' }),
      payments.createRefund({ orderId: 'ord_1', amount: 100 }, { operationId: 'refund-1' }),
    ]);
    expect(second).toBe(first);
    expect(api.state).toMatchObject({ refunds: 1, refundable: 900 });
    expect(api.state.sent).toHaveLength(1);
  });

  it('refuses a different request for an operation in flight, without a request', async () => {
    const api = fakeApi();
    const payments = client(api);
    const first = payments.createCheckout(cart(1), { operationId: 'cart-1' });
    const error = await rejection(payments.createCheckout(cart(2), { operationId: 'cart-1' }));
    expect(error).toBeInstanceOf(UnresolvedOperationError);
    expect(error).toMatchObject({ operation: 'createCheckout', operationId: 'cart-1', inFlight: true });
    await first;
    expect(api.state.sent).toHaveLength(1);
    expect(api.state.orders).toBe(1);
  });

  it('keeps operations apart per method: the same operationId for a checkout and a refund are two operations', async () => {
    const api = fakeApi();
    api.state.paid = true;
    const payments = client(api);
    await Promise.all([payments.createCheckout(cart(), { operationId: '42' }), payments.createRefund({ orderId: 'ord_1', amount: 1 }, { operationId: '42' })]);
    expect(api.state).toMatchObject({ orders: 1, refunds: 1 });
    expect(new Set(api.keysSent()).size).toBe(2);
    // @ts-expect-error only operations that take an Idempotency-Key (in docs/openapi.yaml) have a lifecycle
    payments.isUnresolved('getOrder', '42');
  });
});

describe('subscriptions', () => {
  const plan = { price: 'price_1', successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/plans' };

  it('retries a 409 subscription-checkout-in-progress with the same key, and gets the session', async () => {
    const api = fakeApi();
    api.faults.push(answer(problem(409, 'subscription-checkout-in-progress', { 'retry-after': '1' })));
    const opened = await client(api).createSubscription(plan, { operationId: 'plan-pro' });
    expect(opened.data).toMatchObject({ subscriptionId: 'sbr_1', status: 'checkout_open' });
    expect(opened.attempts).toBe(2);
    expect(new Set(api.keysSent()).size).toBe(1);
  });

  it('a 409 already-subscribed is definitive: thrown once, not retried', async () => {
    const api = fakeApi();
    api.faults.push(answer(problem(409, 'already-subscribed')));
    const error = await rejection(client(api).createSubscription(plan, { operationId: 'plan-pro' }));
    expect(error).toMatchObject({ problem: { type: 'urn:payments:problem:already-subscribed' } });
    expect(api.state.sent).toHaveLength(1);
  });

  it('cancels with an Idempotency-Key and no body', async () => {
    const api = fakeApi();
    const canceled = await client(api).cancelSubscription('sbr_1', { operationId: 'cancel-sbr_1' });
    expect(canceled.data).toMatchObject({ cancelAtPeriodEnd: true });
    expect(api.state.sent[0]).toMatchObject({ method: 'POST', path: '/v1/subscriptions/sbr_1/cancel', body: undefined, key: expect.stringMatching(UUID_V4) });
  });
});

describe('key lifecycle', () => {
  it('retires the key after a 2xx: buying the same cart id again, or a changed cart, is a new order', async () => {
    const api = fakeApi();
    const store = new MemoryKeyStore();
    const payments = client(api, { keyStore: store });
    const first = await payments.createCheckout(cart(1), { operationId: 'cart-1' });
    expect(payments.isUnresolved('createCheckout', 'cart-1')).toBe(false);
    const again = await payments.createCheckout(cart(1), { operationId: 'cart-1' });
    const changed = await payments.createCheckout(cart(3), { operationId: 'cart-1' });
    expect(new Set([first.data.orderId, again.data.orderId, changed.data.orderId]).size).toBe(3);
    expect([first.replayed, again.replayed, changed.replayed]).toEqual([false, false, false]);
    expect(new Set(api.keysSent()).size).toBe(3);
    expect(store.get('createCheckout:cart-1')).toBeUndefined();
  });

  it('retires the key after a definitive 4xx: a corrected refund amount is a new request, not 422', async () => {
    const api = fakeApi();
    api.state.paid = true;
    const payments = client(api);
    const refused = await rejection(payments.createRefund({ orderId: 'ord_1', amount: 5000 }, { operationId: 'refund-1' }));
    expect(refused).toMatchObject({ status: 422, definitive: true, problem: { type: 'urn:payments:problem:refund-exceeds-balance' } });
    const corrected = await payments.createRefund({ orderId: 'ord_1', amount: 500 }, { operationId: 'refund-1' });
    expect(corrected.data.amount).toBe(500);
    expect(api.state).toMatchObject({ refunds: 1, refundable: 500 });
    expect(api.keysSent()[0]).not.toBe(api.keysSent()[1]);
  });

  it('a refund refused while the order was pending goes through once it is paid', async () => {
    const api = fakeApi();
    const payments = client(api);
    const body = { orderId: 'ord_1', amount: 300 };
    expect(await rejection(payments.createRefund(body, { operationId: 'refund-1' }))).toMatchObject({ status: 409, definitive: true });
    api.state.paid = true;
    expect((await payments.createRefund(body, { operationId: 'refund-1' })).data.status).toBe('succeeded');
    expect(api.state.refunds).toBe(1);
  });

  it('never retries a client mistake, and never repeats it with the same key', async () => {
    const api = fakeApi();
    api.faults.push(answer(problem(400, 'validation')));
    const payments = client(api);
    expect(await rejection(payments.createCheckout(cart(), { operationId: 'cart-1' }))).toMatchObject({ status: 400, attempts: 1 });
    await payments.createCheckout(cart(), { operationId: 'cart-1' });
    expect(api.state.sent).toHaveLength(2);
    expect(api.keysSent()[0]).not.toBe(api.keysSent()[1]);
  });

  it('keeps the key of an operation that gave up: the same request resumes it and gets the replay', async () => {
    const api = fakeApi();
    const payments = client(api, giveUpAfterOneAttempt);
    api.faults.push(lost);
    const gaveUp = await rejection(payments.createCheckout(cart(), { operationId: 'cart-1' }));
    expect(gaveUp).toBeInstanceOf(RetriesExhaustedError);
    expect(payments.isUnresolved('createCheckout', 'cart-1')).toBe(true);
    const resumed = await payments.createCheckout(cart(), { operationId: 'cart-1' });
    expect(resumed).toMatchObject({ replayed: true, idempotencyKey: (gaveUp as RetriesExhaustedError).idempotencyKey });
    expect(api.state.orders).toBe(1);
    expect(payments.isUnresolved('createCheckout', 'cart-1')).toBe(false);
  });

  it('refuses another request for an unresolved operation until it is abandoned explicitly', async () => {
    const api = fakeApi();
    api.state.paid = true;
    const payments = client(api, giveUpAfterOneAttempt);
    api.faults.push(lost);
    expect(await rejection(payments.createRefund({ orderId: 'ord_1', amount: 100 }, { operationId: 'refund-1' }))).toBeInstanceOf(RetriesExhaustedError);
    const refused = await rejection(payments.createRefund({ orderId: 'ord_1', amount: 200 }, { operationId: 'refund-1' }));
    expect(refused).toMatchObject({ name: 'UnresolvedOperationError', inFlight: false });
    expect(api.state.sent).toHaveLength(1);

    payments.abandon('createRefund', 'refund-1');
    const after = await client(api).createRefund({ orderId: 'ord_1', amount: 200 }, { operationId: 'refund-1' });
    expect(after.replayed).toBe(false);
    expect(api.state).toMatchObject({ refunds: 2, refundable: 700 }); // the abandoned one had happened: why the README says read the order first
  });

  it('ignores a stored key once keyTtlMs has passed (the server may have forgotten it)', async () => {
    const api = fakeApi();
    let clock = 1_000_000;
    const payments = client(api, { now: () => clock, keyTtlMs: 60_000, ...giveUpAfterOneAttempt });
    api.faults.push(lost);
    await rejection(payments.createCheckout(cart(), { operationId: 'cart-1' }));
    clock += 59_999;
    expect(payments.isUnresolved('createCheckout', 'cart-1')).toBe(true);
    clock += 1;
    expect(payments.isUnresolved('createCheckout', 'cart-1')).toBe(false);
    await payments.createCheckout(cart(2), { operationId: 'cart-1' }); // a different body, and no UnresolvedOperationError
    expect(new Set(api.keysSent()).size).toBe(2);
  });

  it('sweeps expired records out of Web Storage when a page starts', async () => {
    const api = fakeApi();
    const { items, storage } = fakeStorage();
    let clock = 1_000_000;
    const page = () => client(api, { keyStore: new StorageKeyStore(storage, { now: () => clock }), now: () => clock, keyTtlMs: 60_000, ...giveUpAfterOneAttempt });
    api.faults.push(lost);
    await rejection(page().createCheckout(cart(), { operationId: 'cart-1' }));
    items.set('payments.idempotency.garbage', 'not json');
    items.set('unrelated', 'kept');
    page();
    expect(items.size).toBe(2);
    clock += 60_000;
    page();
    expect([...items.keys()]).toEqual(['unrelated']);
  });

  it('after a 401 the operation is still unresolved if an earlier attempt may have run; a key no request could use is retired', async () => {
    const api = fakeApi();
    const payments = client(api);
    api.faults.push(answer(problem(401, 'unauthorized')));
    expect(await rejection(payments.createCheckout(cart(), { operationId: 'cart-1' }))).toMatchObject({ status: 401, definitive: false });
    expect(payments.isUnresolved('createCheckout', 'cart-1')).toBe(false);

    api.faults.push(lost, answer(problem(401, 'unauthorized')));
    expect(await rejection(payments.createCheckout(cart(), { operationId: 'cart-2' }))).toMatchObject({ status: 401, attempts: 2 });
    expect(payments.isUnresolved('createCheckout', 'cart-2')).toBe(true);
    expect((await payments.createCheckout(cart(), { operationId: 'cart-2' })).replayed).toBe(true);
    expect(api.state.orders).toBe(1);
  });
});

describe('reload and tabs (Web Storage)', () => {
  it('a reloaded page resumes the operation with its stored key and gets the replay', async () => {
    const api = fakeApi();
    const { items, storage } = fakeStorage();
    const page = (options: Partial<PaymentsClientOptions> = {}) => client(api, { keyStore: new StorageKeyStore(storage), ...options });
    // The API creates the order; the page is gone before the answer arrives.
    api.faults.push((_, serve) => (serve(), new Promise<never>(() => undefined)));
    const beforeReload = page({ maxElapsedMs: 50 }).createCheckout(cart(), { operationId: 'cart-1' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(items.size).toBe(1);
    const afterReload = page();
    expect(afterReload.isUnresolved('createCheckout', 'cart-1')).toBe(true);
    const resumed = await afterReload.createCheckout(cart(), { operationId: 'cart-1' });
    expect(resumed).toMatchObject({ replayed: true, idempotencyKey: api.keysSent()[0] });
    expect(api.state.orders).toBe(1);
    expect(items.size).toBe(0);
    await beforeReload.catch(() => undefined);
  });

  it('two tabs: B\'s edited cart is refused while A\'s checkout is unresolved, B\'s same cart joins A\'s order, and after that an edit is a new order', async () => {
    const api = fakeApi();
    const { items, storage } = fakeStorage();
    const tabA = client(api, { keyStore: new StorageKeyStore(storage) });
    const tabB = client(api, { keyStore: new StorageKeyStore(storage) });
    let releaseA!: () => void;
    api.faults.push((_, serve) => new Promise((resolve) => (releaseA = () => resolve(fromReply(serve())))));
    const inA = tabA.createCheckout(cart(1), { operationId: 'cart-1' });
    await new Promise((resolve) => setImmediate(resolve));

    expect(await rejection(tabB.createCheckout(cart(2), { operationId: 'cart-1' }))).toMatchObject({ name: 'UnresolvedOperationError', inFlight: false });
    expect(api.state.sent).toHaveLength(1);
    const sameCartInB = await tabB.createCheckout(cart(1), { operationId: 'cart-1' });
    releaseA();
    const a = await inA;
    expect(sameCartInB.data.orderId).toBe(a.data.orderId);
    expect(api.keysSent()).toEqual([a.idempotencyKey, a.idempotencyKey]);

    const editedInB = await tabB.createCheckout(cart(2), { operationId: 'cart-1' });
    expect(editedInB.data.orderId).not.toBe(a.data.orderId);
    expect(api.state.orders).toBe(2);
    expect(items.size).toBe(0);
  });

  it('does not retire a key another tab stored after ours', async () => {
    const { storage } = fakeStorage();
    const api = fakeApi();
    const store = new StorageKeyStore(storage);
    let release!: () => void;
    api.faults.push((_, serve) => new Promise((resolve) => (release = () => resolve(fromReply(serve())))));
    const tabA = client(api, { keyStore: store });
    const pending = tabA.createCheckout(cart(), { operationId: 'cart-1' });
    await new Promise((resolve) => setImmediate(resolve));
    store.set('createCheckout:cart-1', { key: 'another-tab', fingerprint: 'x', expiresAtMs: Date.now() + 60_000 });
    release();
    await pending;
    expect(store.get('createCheckout:cart-1')?.key).toBe('another-tab');
  });
});

describe('lost and unreadable answers', () => {
  const mangled: Record<string, (reply: Reply) => FetchResponse> = {
    'cut short': (r) => toResponse(r.status, JSON.stringify(r.body).slice(0, 20), r.headers),
    'an HTML page': (r) => toResponse(r.status, '<html>Service Unavailable</html>', { 'content-type': 'text/html' }),
    '204 with no body': () => toResponse(204, ''),
    'JSON that is not an object': (r) => toResponse(r.status, 'null', r.headers),
  };
  it.each(Object.keys(mangled))('a 2xx whose body is %s is a lost response: retried with the same key, answered by the replay', async (kind) => {
    const api = fakeApi();
    api.faults.push((_, serve) => mangled[kind]!(serve()));
    const result = await client(api).createCheckout(cart(), { operationId: 'cart-1' });
    expect(result).toMatchObject({ attempts: 2, replayed: true, data: { orderId: 'ord_1' } });
    expect(api.state.orders).toBe(1);
    expect(new Set(api.keysSent()).size).toBe(1);
  });

  it('a 2xx whose body stalls is cut off by the attempt timeout and retried', async () => {
    const api = fakeApi();
    api.faults.push((_, serve) => ({ ...fromReply(serve()), text: () => new Promise<string>(() => undefined) }));
    const result = await client(api, { attemptTimeoutMs: 50 }).createCheckout(cart(), { operationId: 'cart-1' });
    expect(result).toMatchObject({ attempts: 2, replayed: true });
    expect(api.state.orders).toBe(1);
  });

  it('only unreadable answers: gives up with the key kept, never a made-up success', async () => {
    const api = fakeApi();
    for (let i = 0; i < 50; i++) api.faults.push(() => toResponse(201, ''));
    let clock = 0;
    const payments = client(api, { now: () => clock, sleep: async (ms) => void (clock += ms), maxElapsedMs: 3000 });
    expect(await rejection(payments.createCheckout(cart(), { operationId: 'cart-1' }))).toMatchObject({ name: 'RetriesExhaustedError', lastFailure: '201 with an unreadable body' });
    expect(payments.isUnresolved('createCheckout', 'cart-1')).toBe(true);
  });
});

describe('retry timing', () => {
  it('bounds every attempt by the time left, even when fetch ignores the abort signal', async () => {
    const api = fakeApi();
    api.faults.push(hang(true), hang(true));
    // Without the bound this waits out the 10 s attempt timeout and fails on jest's 5 s.
    const error = await rejection(client(api, { maxElapsedMs: 100, attemptTimeoutMs: 10_000 }).createCheckout(cart(), { operationId: 'cart-1' }));
    expect(error).toMatchObject({ name: 'RetriesExhaustedError', attempts: 1 });
    expect((error as RetriesExhaustedError).lastFailure).toMatch(/^timeout: no complete answer within \d+ ms$/);
  });

  it('aborts the request of an attempt that timed out', async () => {
    const api = fakeApi();
    api.faults.push(hang());
    await client(api, { attemptTimeoutMs: 20 }).createCheckout(cart(), { operationId: 'cart-1' });
    expect((api.state.sent[0]!.signal as AbortSignal).aborted).toBe(true);
    expect(api.state.sent).toHaveLength(2);
  });

  it('never starts a wait that would end past the budget', async () => {
    const api = fakeApi();
    for (let i = 0; i < 100; i++) api.faults.push(answer(problem(503, 'storage-unavailable', { 'retry-after': '2' })));
    let clock = 0;
    const waits: number[] = [];
    const payments = client(api, { now: () => clock, sleep: async (ms) => void (waits.push(ms), (clock += ms)), maxElapsedMs: 7000 });
    expect(await rejection(payments.createCheckout(cart(), { operationId: 'cart-1' }))).toMatchObject({ name: 'RetriesExhaustedError', attempts: 4 });
    expect(waits).toEqual([2000, 2000, 2000]);
  });

  it('honours Retry-After as an HTTP-date', async () => {
    const api = fakeApi();
    const nowMs = Date.UTC(2026, 10, 23, 12, 0, 0);
    api.faults.push(answer(problem(503, 'payment-provider-unavailable', { 'retry-after': 'Mon, 23 Nov 2026 12:00:07 GMT' })));
    const waits: number[] = [];
    await client(api, { now: () => nowMs, sleep: async (ms) => void waits.push(ms) }).createCheckout(cart(), { operationId: 'cart-1' });
    expect(waits).toEqual([7000]);
  });

  it.each([
    ['3', 3000],
    ['0', 0],
    ['Mon, 23 Nov 2026 11:59:00 GMT', 0], // in the past
    ['0x10', undefined],
    ['1e1', undefined],
    ['1.5', undefined],
    ['-1', undefined],
    ['', undefined],
    ['Monday, 23-Nov-26 12:00:07 GMT', undefined],
    ['23 Nov 2026 12:00:07 GMT', undefined],
  ])('parses Retry-After %j strictly as %p ms', (header, expected) => {
    expect(retryAfterMs(header, Date.UTC(2026, 10, 23, 12, 0, 0))).toBe(expected);
  });

  it.each([408, 425, 429, 500, 502, 503, 504])('retries %i with the same key', async (status) => {
    const api = fakeApi();
    api.faults.push(answer(problem(status, 'transient')));
    const result = await client(api).createCheckout(cart(), { operationId: 'cart-1' });
    expect(result.attempts).toBe(2);
    expect(api.keysSent()).toEqual([result.idempotencyKey, result.idempotencyKey]);
  });

  it('retries 409 only when the first request is still in progress', async () => {
    const api = fakeApi();
    api.faults.push(answer(problem(409, 'idempotency-request-in-progress', { 'retry-after': '1' })));
    expect((await client(api).createCheckout(cart(), { operationId: 'cart-1' })).attempts).toBe(2);
    expect(await rejection(client(api).createRefund({ orderId: 'ord_1' }, { operationId: 'r' }))).toMatchObject({ status: 409, attempts: 1 });
  });
});

describe('tokens', () => {
  it('a throwing token() fails the call at once, sends nothing, and leaves no key behind', async () => {
    const api = fakeApi();
    const token = jest.fn(() => {
      throw new Error('session expired');
    });
    const payments = client(api, { token });
    const error = await rejection(payments.createCheckout(cart(), { operationId: 'cart-1' }));
    expect(error).toBeInstanceOf(TokenError);
    expect(error).toMatchObject({ attempts: 0, message: 'Could not get an ID token: session expired' });
    expect(token).toHaveBeenCalledTimes(1);
    expect(api.state.sent).toHaveLength(0);
    expect(payments.isUnresolved('createCheckout', 'cart-1')).toBe(false);
  });

  it('a token() that never answers fails the call within its budget', async () => {
    const api = fakeApi();
    const error = await rejection(client(api, { token: () => new Promise<string>(() => undefined), maxElapsedMs: 50 }).createCheckout(cart(), { operationId: 'cart-1' }));
    expect(error).toMatchObject({ name: 'TokenError', message: expect.stringMatching(/^Could not get an ID token: no complete answer within \d+ ms$/) });
    expect(api.state.sent).toHaveLength(0);
  });

  it('a token() that fails after a lost answer keeps the key: the operation may have happened', async () => {
    const api = fakeApi();
    const token = jest.fn().mockResolvedValueOnce('token-1').mockRejectedValue(new Error('offline'));
    api.faults.push(lost);
    const payments = client(api, { token });
    expect(await rejection(payments.createCheckout(cart(), { operationId: 'cart-1' }))).toMatchObject({ name: 'TokenError', attempts: 1 });
    expect(payments.isUnresolved('createCheckout', 'cart-1')).toBe(true);
  });

  it('refreshes the token once after a 401 and repeats the attempt with the new one', async () => {
    const api = fakeApi();
    api.faults.push(answer(problem(401, 'unauthorized')));
    const refreshToken = jest.fn(async () => 'token-2');
    const result = await client(api, { refreshToken }).createCheckout(cart(), { operationId: 'cart-1' });
    expect(result.attempts).toBe(2);
    expect(refreshToken).toHaveBeenCalledTimes(1);
    expect(api.state.sent.map((s) => s.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
    expect(new Set(api.keysSent()).size).toBe(1);
  });

  it('a second 401 is final', async () => {
    const api = fakeApi();
    api.faults.push(answer(problem(401, 'unauthorized')), answer(problem(401, 'unauthorized')));
    const refreshToken = jest.fn(async () => 'token-2');
    expect(await rejection(client(api, { refreshToken }).createCheckout(cart(), { operationId: 'cart-1' }))).toMatchObject({ status: 401, attempts: 2 });
    expect(refreshToken).toHaveBeenCalledTimes(1);
    expect(api.state.sent).toHaveLength(2);
  });
});

describe('feature detection: fall back, and always reject rather than throw', () => {
  const withGlobal = async (name: string, replacement: unknown, run: () => Promise<void>) => {
    const original = Object.getOwnPropertyDescriptor(globalThis, name);
    const isGetter = typeof replacement === 'object' && replacement !== null && 'get' in replacement && typeof replacement.get === 'function';
    Object.defineProperty(globalThis, name, isGetter ? { ...(replacement as PropertyDescriptor), configurable: true } : { value: replacement, configurable: true, writable: true });
    try {
      await run();
    } finally {
      if (original) Object.defineProperty(globalThis, name, original);
      else delete (globalThis as Record<string, unknown>)[name];
    }
  };

  it('without crypto.randomUUID (plain-HTTP origins, old Safari) makes v4 keys from getRandomValues', async () => {
    const api = fakeApi();
    const realCrypto = globalThis.crypto;
    const getRandomValues = jest.fn((array: Uint8Array) => realCrypto.getRandomValues(array));
    await withGlobal('crypto', { getRandomValues }, async () => {
      const { idempotencyKey } = await client(api).createCheckout(cart(), { operationId: 'cart-1' });
      expect(idempotencyKey).toMatch(UUID_V4);
    });
    expect(getRandomValues).toHaveBeenCalledTimes(1);
  });

  it('without any crypto rejects, sends nothing and stores nothing', async () => {
    const api = fakeApi();
    const store = new MemoryKeyStore();
    await withGlobal('crypto', undefined, async () => {
      const call = client(api, { keyStore: store }).createCheckout(cart(), { operationId: 'cart-1' });
      expect(await rejection(call)).toBeInstanceOf(UnsupportedEnvironmentError);
    });
    expect(api.state.sent).toHaveLength(0);
    expect(store.get('createCheckout:cart-1')).toBeUndefined();
  });

  it('without AbortController still bounds an attempt', async () => {
    const api = fakeApi();
    api.faults.push(hang(true));
    await withGlobal('AbortController', undefined, async () => {
      const result = await client(api, { attemptTimeoutMs: 20 }).createCheckout(cart(), { operationId: 'cart-1' });
      expect(result.attempts).toBe(2);
    });
    expect(api.state.sent[0]!.signal).toBeUndefined();
  });

  it('without fetch rejects with a clear error instead of throwing', async () => {
    await withGlobal('fetch', undefined, async () => {
      const payments = new PaymentsClient({ baseUrl: 'https://api.example', token: () => 't', keyStore: new MemoryKeyStore() });
      const call = payments.getOrder('ord_1');
      expect(call).toBeInstanceOf(Promise);
      expect(await rejection(call)).toBeInstanceOf(UnsupportedEnvironmentError);
      expect(payments.isUnresolved('createCheckout', 'cart-1')).toBe(false);
      expect(await rejection(payments.createCheckout(cart(), { operationId: 'cart-1' }))).toBeInstanceOf(UnsupportedEnvironmentError);
      expect(payments.isUnresolved('createCheckout', 'cart-1')).toBe(false);
    });
  });

  it('a body JSON cannot encode rejects instead of throwing', async () => {
    const api = fakeApi();
    let call: Promise<unknown> | undefined;
    expect(() => (call = client(api).createRefund({ orderId: 'ord_1', amount: 10n as unknown as number }, { operationId: 'r' }))).not.toThrow();
    expect(await rejection(call!)).toBeInstanceOf(TypeError);
    expect(api.state.sent).toHaveLength(0);
  });

  it('when localStorage.setItem throws (private mode, quota) the operation is still safe within the page', async () => {
    const api = fakeApi();
    const { storage } = fakeStorage();
    storage.setItem = () => {
      throw new Error('QuotaExceededError');
    };
    const payments = client(api, { keyStore: new StorageKeyStore(storage) });
    api.faults.push(lost);
    const [first, second] = await Promise.all([payments.createCheckout(cart(), { operationId: 'cart-1' }), payments.createCheckout(cart(), { operationId: 'cart-1' })]);
    expect(second).toBe(first);
    expect(first).toMatchObject({ attempts: 2, replayed: true });
    expect(api.state.orders).toBe(1);
  });

  it('when reading localStorage itself throws (storage blocked), browserKeyStore keeps keys in memory', async () => {
    const api = fakeApi();
    const blocked = () => {
      throw new Error('SecurityError');
    };
    await withGlobal('localStorage', { get: blocked }, async () => {
      const store = browserKeyStore();
      expect(store).toBeInstanceOf(MemoryKeyStore);
      api.faults.push(lost);
      expect((await client(api, { keyStore: store }).createCheckout(cart(), { operationId: 'cart-1' })).replayed).toBe(true);
    });
    expect(api.state.orders).toBe(1);
  });

  it('uses localStorage by default when the page has it', async () => {
    const api = fakeApi();
    const { items, storage } = fakeStorage();
    await withGlobal('localStorage', storage, async () => {
      const payments = new PaymentsClient({ baseUrl: 'https://api.example', token: () => 't', fetch: api.fetch });
      const pending = payments.createCheckout(cart(), { operationId: 'cart-1' });
      expect([...items.keys()]).toEqual(['payments.idempotency.createCheckout:cart-1']); // stored before the first await
      expect(JSON.parse(items.get('payments.idempotency.createCheckout:cart-1')!)).toEqual({ key: expect.stringMatching(UUID_V4), fingerprint: expect.any(String), expiresAtMs: expect.any(Number) });
      await pending;
      expect(items.size).toBe(0);
    });
  });
});
