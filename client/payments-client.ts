import type { components } from './openapi-types';

/**
 * A client for the payments API that retries safely: one Idempotency-Key per logical operation,
 * reused on every retry of it; retries of network errors, 409 in-progress, 429 and 5xx with
 * exponential backoff and full jitter, never less than Retry-After; never a retry of a client
 * mistake (400, 401, 403, 404, 422); a bounded total time. Runs in browsers and Node (fetch,
 * crypto.randomUUID). Types come from docs/openapi.yaml (`npm run client:types`).
 */
export type CheckoutRequest = components['schemas']['CheckoutRequest'];
export type Checkout = components['schemas']['Checkout'];
export type RefundRequest = components['schemas']['RefundRequest'];
export type Refund = components['schemas']['Refund'];
export type Order = components['schemas']['Order'];
export type Problem = components['schemas']['Problem'];

/** Where Idempotency-Keys live between attempts — and, if you persist it, across page reloads. */
export interface IdempotencyKeyStore {
  get(operationId: string): string | undefined;
  set(operationId: string, key: string): void;
  delete(operationId: string): void;
}

export class MemoryKeyStore implements IdempotencyKeyStore {
  private readonly keys = new Map<string, string>();
  get = (operationId: string) => this.keys.get(operationId);
  set = (operationId: string, key: string) => void this.keys.set(operationId, key);
  delete = (operationId: string) => void this.keys.delete(operationId);
}

/** Keys in `window.localStorage` (or any Storage), so a reload resumes the same operation. */
export class StorageKeyStore implements IdempotencyKeyStore {
  constructor(
    private readonly storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>,
    private readonly prefix = 'payments.idempotency.',
  ) {}
  get = (operationId: string) => this.storage.getItem(this.prefix + operationId) ?? undefined;
  set = (operationId: string, key: string) => this.storage.setItem(this.prefix + operationId, key);
  delete = (operationId: string) => this.storage.removeItem(this.prefix + operationId);
}

export interface PaymentsClientOptions {
  baseUrl: string;
  /** The Cognito ID token, fetched before every attempt (so a refreshed token is used). */
  token: () => string | Promise<string>;
  keyStore?: IdempotencyKeyStore;
  /** Give up retrying after this long. @default 30000 */
  maxElapsedMs?: number;
  /** Each attempt's own timeout. @default 10000 */
  attemptTimeoutMs?: number;
  /** First backoff ceiling; doubles per attempt. @default 200 */
  baseDelayMs?: number;
  /** @default 5000 */
  maxDelayMs?: number;
  fetch?: typeof fetch;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface Answer<T> {
  data: T;
  /** The API answered with a stored result (`Idempotent-Replayed: true`). */
  replayed: boolean;
  idempotencyKey: string | undefined;
  attempts: number;
}

/** A final answer that is not a success: a problem+json the caller must act on. */
export class PaymentsApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
    readonly attempts: number,
  ) {
    super(`${status} ${problem.type}: ${problem.detail ?? problem.title}`);
    this.name = 'PaymentsApiError';
  }
}

/** Retries ran out of time; the operation may or may not have happened — retry it later with the same operationId. */
export class RetriesExhaustedError extends Error {
  constructor(
    readonly attempts: number,
    readonly lastFailure: string,
    readonly idempotencyKey: string | undefined,
  ) {
    super(`Gave up after ${attempts} attempts: ${lastFailure}`);
    this.name = 'RetriesExhaustedError';
  }
}

const RETRYABLE_STATUS = new Set([409, 429, 500, 502, 503, 504]);
const IN_PROGRESS = 'urn:payments:problem:idempotency-request-in-progress';

export class PaymentsClient {
  private readonly keyStore: IdempotencyKeyStore;
  private readonly fetch: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: PaymentsClientOptions) {
    this.keyStore = options.keyStore ?? new MemoryKeyStore();
    this.fetch = options.fetch ?? ((...args) => globalThis.fetch(...args));
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /**
   * `operationId` names the logical operation ("checkout for cart 42"): every call with it uses
   * the same Idempotency-Key, so a double click or a resumed page creates one order.
   */
  createCheckout(body: CheckoutRequest, operation: { operationId?: string } = {}): Promise<Answer<Checkout>> {
    return this.send<Checkout>('POST', '/v1/checkouts', body, this.keyFor(operation.operationId));
  }

  createRefund(body: RefundRequest, operation: { operationId?: string } = {}): Promise<Answer<Refund>> {
    return this.send<Refund>('POST', '/v1/refunds', body, this.keyFor(operation.operationId));
  }

  getOrder(orderId: string): Promise<Answer<Order>> {
    return this.send<Order>('GET', `/v1/orders/${encodeURIComponent(orderId)}`, undefined, undefined);
  }

  /** Forget an operation's key once its outcome is final for the caller (the next call is new). */
  forget(operationId: string): void {
    this.keyStore.delete(operationId);
  }

  /** Synchronous on purpose: two calls in the same tick must share the key. */
  private keyFor(operationId: string | undefined): string {
    if (operationId === undefined) return crypto.randomUUID();
    const existing = this.keyStore.get(operationId);
    if (existing) return existing;
    const key = crypto.randomUUID();
    this.keyStore.set(operationId, key);
    return key;
  }

  private async send<T>(method: string, path: string, body: unknown, idempotencyKey: string | undefined): Promise<Answer<T>> {
    const now = this.options.now ?? Date.now;
    const random = this.options.random ?? Math.random;
    const started = now();
    const maxElapsedMs = this.options.maxElapsedMs ?? 30_000;
    let lastFailure = 'no attempt';
    for (let attempt = 1; ; attempt++) {
      let retryAfterMs = 0;
      try {
        const response = await this.fetch(`${this.options.baseUrl}${path}`, {
          method,
          headers: {
            Authorization: `Bearer ${await this.options.token()}`,
            Accept: 'application/json, application/problem+json',
            ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
            ...(idempotencyKey ? { 'Idempotency-Key': `"${idempotencyKey}"` } : {}),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.options.attemptTimeoutMs ?? 10_000),
        });
        const payload = await response.json().catch(() => ({ type: 'about:blank', title: response.statusText, status: response.status }));
        if (response.ok) return { data: payload as T, replayed: response.headers.get('idempotent-replayed') === 'true', idempotencyKey, attempts: attempt };
        const problem = payload as Problem;
        const retryable = RETRYABLE_STATUS.has(response.status) && (response.status !== 409 || problem.type === IN_PROGRESS);
        if (!retryable) throw new PaymentsApiError(response.status, problem, attempt);
        retryAfterMs = Number(response.headers.get('retry-after') ?? 0) * 1000 || 0;
        lastFailure = `${response.status} ${problem.type}`;
      } catch (error) {
        if (error instanceof PaymentsApiError) throw error;
        lastFailure = `network: ${(error as Error).message}`; // no answer: the request may have happened
      }
      // Full jitter (AWS Architecture Blog), but never sooner than the server asked.
      const ceiling = Math.min(this.options.maxDelayMs ?? 5000, (this.options.baseDelayMs ?? 200) * 2 ** (attempt - 1));
      const delayMs = Math.max(retryAfterMs, random() * ceiling);
      if (now() - started + delayMs > maxElapsedMs) throw new RetriesExhaustedError(attempt, lastFailure, idempotencyKey);
      await this.sleep(delayMs);
    }
  }
}
