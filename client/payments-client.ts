import type { components, operations } from './openapi-types.js';
import { PaymentsApiError, RetriesExhaustedError, TokenError, UnresolvedOperationError, type Problem } from './errors.js';
import { browserKeyStore, fingerprint, type IdempotencyKeyStore, type StoredKey } from './key-store.js';
import { AttemptTimeoutError, hostFetch, randomUuid, sleep, withDeadline, type Fetch, type FetchResponse } from './platform.js';
import { backoffMs, mayHaveRun, retryAfterMs, verdictOf } from './retry-policy.js';

/**
 * The payments API client that cannot be used unsafely. Every create names its logical
 * operation; the operation's Idempotency-Key lives until the API gives a definitive answer and
 * is then retired; retries (network errors, lost or unreadable answers, 408, 425, 429, 5xx,
 * 409 in progress) reuse it within a time budget. The README's "The client" section tells the
 * double-click, reload, two-tab and "fix and try again" stories. Types come from
 * docs/openapi.yaml (`npm run client:types`).
 */
export type CheckoutRequest = components['schemas']['CheckoutRequest'];
export type Checkout = components['schemas']['Checkout'];
export type RefundRequest = components['schemas']['RefundRequest'];
export type Refund = components['schemas']['Refund'];
export type Order = components['schemas']['Order'];
export type SubscriptionRequest = components['schemas']['SubscriptionRequest'];
export type SubscriptionCheckout = components['schemas']['SubscriptionCheckout'];
export type Subscription = components['schemas']['Subscription'];
export type BillingPortalRequest = components['schemas']['BillingPortalRequest'];
export type { Problem };
export type { components, operations, paths } from './openapi-types.js';
export { PaymentsApiError, RetriesExhaustedError, TokenError, UnresolvedOperationError } from './errors.js';
export { browserKeyStore, MemoryKeyStore, StorageKeyStore, type IdempotencyKeyStore, type StorageKeyStoreOptions, type StorageLike, type StoredKey } from './key-store.js';
export { UnsupportedEnvironmentError, type Fetch, type FetchInit, type FetchResponse } from './platform.js';
export { retryAfterMs } from './retry-policy.js';

/**
 * The OpenAPI operationIds that take an Idempotency-Key: each gets the key lifecycle. A new one
 * (createSubscription, cancelSubscription…) needs only its three-line method below.
 */
export type IdempotentOperation = {
  [Op in keyof operations]: operations[Op]['parameters'] extends { header: { 'Idempotency-Key': string } } ? Op : never;
}[keyof operations];

type RequestOf<Op extends keyof operations> = operations[Op] extends { requestBody: { content: { 'application/json': infer Body } } } ? Body : undefined;
type SuccessOf<Op extends keyof operations> = operations[Op]['responses'] extends { 201: { content: { 'application/json': infer Created } } }
  ? Created
  : operations[Op]['responses'] extends { 200: { content: { 'application/json': infer Ok } } }
    ? Ok
    : never;

/** Names the logical operation ("checkout of cart 42"), not the attempt: a retry, a double click or a reload passes the same one. */
export interface OperationIdentity {
  readonly operationId: string;
}

export interface PaymentsClientOptions {
  readonly baseUrl: string;
  /** The Cognito ID token, asked for before every attempt (so a refreshed token is used). A throw fails the call at once. */
  readonly token: () => string | Promise<string>;
  /** Called once per call after a 401 (an expired token); the attempt is repeated with what it returns. @default none: a 401 fails the call */
  readonly refreshToken?: () => string | Promise<string>;
  /** Where unresolved operations' keys live. @default browserKeyStore(): localStorage when usable, else memory */
  readonly keyStore?: IdempotencyKeyStore;
  /** A stored key is ignored after this; keep it below the API's idempotency TTL (24 h by default). @default 82800000 (23 h) */
  readonly keyTtlMs?: number;
  /** Total time for one call, attempts and waits included. @default 30000 */
  readonly maxElapsedMs?: number;
  /** One attempt's limit (request and body), further bounded by what is left of `maxElapsedMs`. @default 10000 */
  readonly attemptTimeoutMs?: number;
  /** First backoff ceiling; doubles per attempt. @default 200 */
  readonly baseDelayMs?: number;
  /** @default 5000 */
  readonly maxDelayMs?: number;
  /** @default globalThis.fetch */
  readonly fetch?: Fetch;
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

export interface Answer<T> {
  readonly data: T;
  /** The API answered with the stored result of an earlier request (`Idempotent-Replayed: true`). */
  readonly replayed: boolean;
  readonly idempotencyKey: string | undefined;
  readonly attempts: number;
}

/** What one call learnt about whether the API may have acted, across all its attempts. */
interface CallLog {
  mayHaveRun: boolean;
}

const DEFAULT_KEY_TTL_MS = 23 * 60 * 60 * 1000;

export class PaymentsClient {
  private readonly keyStore: IdempotencyKeyStore;
  private readonly now: () => number;
  private readonly inFlight = new Map<string, { fingerprint: string; answer: Promise<Answer<unknown>> }>();

  constructor(private readonly options: PaymentsClientOptions) {
    this.keyStore = options.keyStore ?? browserKeyStore(options.now ? { now: options.now } : {});
    this.now = options.now ?? Date.now;
  }

  createCheckout(body: CheckoutRequest, operation: OperationIdentity): Promise<Answer<Checkout>> {
    return this.create('createCheckout', '/v1/checkouts', body, operation);
  }

  createRefund(body: RefundRequest, operation: OperationIdentity): Promise<Answer<Refund>> {
    return this.create('createRefund', '/v1/refunds', body, operation);
  }

  /**
   * 201 opened, or 200 the user's open checkout for the product (continue it); 409 `already-subscribed` throws with
   * `subscriptionId`; 409 `subscription-ended` throws when this operation's checkout expired or its subscription
   * ended: to subscribe again, start a new operation (a new key).
   */
  createSubscription(body: SubscriptionRequest, operation: OperationIdentity): Promise<Answer<SubscriptionCheckout>> {
    return this.create('createSubscription', '/v1/subscriptions', body, operation);
  }

  cancelSubscription(subscriptionId: string, operation: OperationIdentity): Promise<Answer<Subscription>> {
    return this.create('cancelSubscription', `/v1/subscriptions/${encodeURIComponent(subscriptionId)}/cancel`, undefined, operation);
  }

  createBillingPortalSession(body: BillingPortalRequest, operation: OperationIdentity): Promise<Answer<{ url: string }>> {
    return this.create('createBillingPortalSession', '/v1/billing-portal-sessions', body, operation);
  }

  listSubscriptions(): Promise<Answer<{ data: Subscription[] }>> {
    return this.rejectInsteadOfThrow(() => this.send<{ data: Subscription[] }>('GET', '/v1/subscriptions', undefined, undefined, { mayHaveRun: false }));
  }

  getOrder(orderId: string): Promise<Answer<Order>> {
    return this.rejectInsteadOfThrow(() => this.send<Order>('GET', `/v1/orders/${encodeURIComponent(orderId)}`, undefined, undefined, { mayHaveRun: false }));
  }

  /** True while the operation has a request without a definitive answer: in flight here, in another tab, or given up. */
  isUnresolved(operation: IdempotentOperation, operationId: string): boolean {
    const slot = slotOf(operation, operationId);
    return this.inFlight.has(slot) || this.storedKey(slot) !== undefined;
  }

  /**
   * Drop an unresolved operation's key, so the next call is a new operation. What the abandoned
   * request did stays done: a checkout leaves at most a pending order whose session expires;
   * for a refund, read the order first — its `refunds` show whether it happened.
   */
  abandon(operation: IdempotentOperation, operationId: string): void {
    try {
      this.keyStore.delete(slotOf(operation, operationId));
    } catch {
      // A store that cannot delete keeps a record that expires on its own.
    }
  }

  /** `body` undefined: an operation without a request body (the key and the path are the request). */
  private create<Op extends IdempotentOperation>(operation: Op, path: string, body: RequestOf<Op>, identity: OperationIdentity): Promise<Answer<SuccessOf<Op>>> {
    return this.rejectInsteadOfThrow(() => this.startOperation(operation, path, body, identity)) as Promise<Answer<SuccessOf<Op>>>;
  }

  /** Synchronous up to the first await on purpose: two calls in the same tick must see each other. */
  private startOperation(operation: IdempotentOperation, path: string, body: unknown, identity: OperationIdentity): Promise<Answer<unknown>> {
    const operationId: unknown = identity?.operationId;
    if (typeof operationId !== 'string' || operationId === '') {
      throw new TypeError(`${operation} needs { operationId }: a name for the logical operation, such as the cart id`);
    }
    const bodyText = body === undefined ? undefined : JSON.stringify(body);
    const bodyPrint = fingerprint(`${path} ${bodyText ?? ''}`);
    const slot = slotOf(operation, operationId);

    const running = this.inFlight.get(slot);
    if (running) {
      if (running.fingerprint === bodyPrint) return running.answer;
      throw new UnresolvedOperationError(operation, operationId, true);
    }
    const stored = this.storedKey(slot);
    if (stored && stored.fingerprint !== bodyPrint) throw new UnresolvedOperationError(operation, operationId, false);
    const record: StoredKey = stored ?? { key: randomUuid(), fingerprint: bodyPrint, expiresAtMs: this.now() + (this.options.keyTtlMs ?? DEFAULT_KEY_TTL_MS) };
    if (!stored) this.keyStore.set(slot, record);

    const log: CallLog = { mayHaveRun: false };
    const answer = this.send<unknown>('POST', path, bodyText, record.key, log).then(
      (success) => {
        this.retire(slot, record.key);
        return success;
      },
      (error: unknown) => {
        const judged = error instanceof PaymentsApiError && error.definitive;
        // A key this call minted and no request of it can have run: nothing to resume.
        const neverRan = !stored && !log.mayHaveRun;
        if (judged || neverRan) this.retire(slot, record.key);
        throw error;
      },
    );
    this.inFlight.set(slot, { fingerprint: bodyPrint, answer });
    const leave = () => this.inFlight.delete(slot);
    answer.then(leave, leave);
    return answer;
  }

  private storedKey(slot: string): StoredKey | undefined {
    const record = this.keyStore.get(slot);
    if (record && record.expiresAtMs <= this.now()) {
      this.keyStore.delete(slot);
      return undefined;
    }
    return record;
  }

  /** Only our own key: another tab may have stored a newer operation in this slot meanwhile. */
  private retire(slot: string, key: string): void {
    try {
      if (this.keyStore.get(slot)?.key === key) this.keyStore.delete(slot);
    } catch {
      // The answer stands; a record a custom store failed to delete expires on its own.
    }
  }

  private rejectInsteadOfThrow<T>(start: () => Promise<T>): Promise<T> {
    try {
      return start();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private async send<T>(method: string, path: string, bodyText: string | undefined, idempotencyKey: string | undefined, log: CallLog): Promise<Answer<T>> {
    const options = this.options;
    const fetch = options.fetch ?? hostFetch();
    const deadline = this.now() + (options.maxElapsedMs ?? 30_000);
    let refreshedToken: string | undefined;
    let lastFailure = 'no attempt';
    for (let attempt = 1; ; attempt++) {
      let bearer: string;
      try {
        // A token provider that never answers (a stuck refresh) must not hold the call past its budget either.
        bearer = refreshedToken ?? (await withDeadline(Math.max(1, deadline - this.now()), () => Promise.resolve(options.token())));
      } catch (reason) {
        throw new TokenError(reason, attempt - 1);
      }
      const timeLeftMs = deadline - this.now();
      if (timeLeftMs <= 0) throw new RetriesExhaustedError(attempt - 1, lastFailure, idempotencyKey);
      const headers: Record<string, string> = { Authorization: `Bearer ${bearer}`, Accept: 'application/json, application/problem+json' };
      if (bodyText !== undefined) headers['Content-Type'] = 'application/json';
      if (idempotencyKey !== undefined) headers['Idempotency-Key'] = `"${idempotencyKey}"`;

      let retryAfter: number | undefined;
      try {
        const { response, payload } = await withDeadline(Math.min(options.attemptTimeoutMs ?? 10_000, timeLeftMs), (signal) =>
          readAnswer(fetch(`${options.baseUrl}${path}`, { method, headers, ...(bodyText === undefined ? {} : { body: bodyText }), ...(signal ? { signal } : {}) })),
        );
        const { status } = response;
        if (status >= 200 && status < 300) {
          if (payload !== undefined) return { data: payload as T, replayed: response.headers.get('idempotent-replayed') === 'true', idempotencyKey, attempts: attempt };
          // Stalled, truncated, HTML or empty: the API may have acted and its answer was lost. The same key gets the replay.
          log.mayHaveRun = true;
          lastFailure = `${status} with an unreadable body`;
        } else {
          const problem = typeof payload?.['type'] === 'string' ? (payload as Problem) : undefined;
          if (mayHaveRun(status)) log.mayHaveRun = true;
          if (status === 401 && options.refreshToken && refreshedToken === undefined) {
            try {
              refreshedToken = await options.refreshToken();
            } catch (reason) {
              throw new TokenError(reason, attempt);
            }
            lastFailure = '401, token refreshed';
            continue;
          }
          const verdict = verdictOf(status, problem?.type);
          if (verdict !== 'retry') throw new PaymentsApiError(status, problem, attempt, verdict === 'definitive');
          retryAfter = retryAfterMs(response.headers.get('retry-after'), this.now());
          lastFailure = `${status} ${problem?.type ?? '(not problem+json)'}`;
        }
      } catch (error) {
        if (error instanceof PaymentsApiError || error instanceof TokenError) throw error;
        log.mayHaveRun = true; // no answer: the request may have reached the API
        lastFailure = error instanceof AttemptTimeoutError ? `timeout: ${error.message}` : `network: ${error instanceof Error ? error.message : String(error)}`;
      }
      // Never sooner than the API asked; give up rather than sleep past the budget.
      const delayMs = Math.max(retryAfter ?? 0, backoffMs(attempt, options.baseDelayMs ?? 200, options.maxDelayMs ?? 5000, options.random ?? Math.random));
      if (this.now() + delayMs >= deadline) throw new RetriesExhaustedError(attempt, lastFailure, idempotencyKey);
      await (options.sleep ?? sleep)(delayMs);
    }
  }
}

const slotOf = (operation: IdempotentOperation, operationId: string) => `${operation}:${operationId}`;

/** The body as a JSON object, or undefined when it is not one (empty, cut short, HTML). */
async function readAnswer(pending: Promise<FetchResponse>): Promise<{ response: FetchResponse; payload: Record<string, unknown> | undefined }> {
  const response = await pending;
  const text = await response.text();
  try {
    const value: unknown = JSON.parse(text);
    return { response, payload: typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined };
  } catch {
    return { response, payload: undefined };
  }
}
