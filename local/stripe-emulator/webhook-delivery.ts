import { createHmac } from 'node:crypto';
import { oneOf, type ApiRequest } from './api';
import type { StripeObject } from './stripe-objects';

/** Stripe's signature scheme: v1 = HMAC-SHA256(secret, `${timestamp}.${payload}`). */
export function signatureHeader(payload: string, secret: string, timestampSeconds = Math.floor(Date.now() / 1000)): string {
  const v1 = createHmac('sha256', secret).update(`${timestampSeconds}.${payload}`).digest('hex');
  return `t=${timestampSeconds},v1=${v1}`;
}

export interface WebhookEndpoint {
  url: string;
  secret: string;
}

export interface DeliveryAttempt {
  eventId: string;
  attempt: number;
  status: number | 'network_error';
}

/**
 * Delivers events to one endpoint the way Stripe does: each event on its own (no ordering
 * promise), a non-2xx or network error retried on a backoff schedule, then given up. Stripe's
 * schedule spans three days; the local default spans seconds.
 */
export class WebhookDelivery {
  readonly attempts: DeliveryAttempt[] = [];
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  /**
   * As a disabled endpoint at Stripe (or one whose secret we reject): events are still recorded
   * and listed by `GET /v1/events`, but not delivered, and not delivered later on re-enabling.
   * Retries in flight stop too. Issue 13's `webhook_endpoints` supersedes the test helper.
   */
  disabled = false;

  constructor(
    public endpoint: WebhookEndpoint | undefined,
    private readonly retryScheduleMs: readonly number[],
  ) {}

  send(event: StripeObject): void {
    if (!this.endpoint || this.closed || this.disabled) return;
    this.inFlight++;
    void this.attempt(event, 1);
  }

  /** Resolves when no delivery is in flight or waiting for a retry. */
  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    this.timers.forEach(clearTimeout);
    this.timers.clear();
    this.inFlight = 0;
    this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }

  private async attempt(event: StripeObject, attempt: number): Promise<void> {
    if (this.closed || !this.endpoint) return;
    if (this.disabled) {
      if (--this.inFlight === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
      return;
    }
    const payload = JSON.stringify(event, null, 2);
    let status: number | 'network_error';
    try {
      const response = await fetch(this.endpoint.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json; charset=utf-8',
          'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'Stripe-Signature': signatureHeader(payload, this.endpoint.secret),
        },
        body: payload,
        signal: AbortSignal.timeout(10_000),
      });
      await response.arrayBuffer();
      status = response.status;
    } catch {
      status = 'network_error';
    }
    if (this.closed) return;
    this.attempts.push({ eventId: event.id, attempt, status });
    const delivered = typeof status === 'number' && status >= 200 && status < 300;
    const retryInMs = this.retryScheduleMs[attempt - 1];
    if (!delivered && retryInMs !== undefined) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        void this.attempt(event, attempt + 1);
      }, retryInMs);
      this.timers.add(timer);
      return;
    }
    if (--this.inFlight === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }
}

/** Test helper `POST /v1/test_helpers/webhook_endpoint` `disabled=true|false`: turns delivery off and on. */
export function webhookEndpointSet(delivery: WebhookDelivery, request: ApiRequest) {
  delivery.disabled = oneOf(request.params, 'disabled', ['true', 'false'] as const) === 'true';
  return { object: 'test_helpers.webhook_endpoint', url: delivery.endpoint?.url ?? null, disabled: delivery.disabled };
}
