import { createHmac } from 'node:crypto';
import type { StripeObject } from './stripe-objects';
import type { WebhookEndpointRegistry } from './webhook-endpoints';

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
   * With a registry (the emulator's /v1/webhook_endpoints), `endpoint` is registered there and
   * each event goes to every enabled endpoint subscribed to its type, as Stripe delivers; a
   * disabled endpoint receives nothing.
   */
  constructor(
    public endpoint: WebhookEndpoint | undefined,
    private readonly retryScheduleMs: readonly number[],
    private readonly registry?: WebhookEndpointRegistry,
  ) {
    if (endpoint && registry) registry.register(endpoint);
  }

  send(event: StripeObject): void {
    if (this.closed) return;
    const targets = this.registry ? this.registry.subscribedTo(event.type as string) : this.endpoint ? [this.endpoint] : [];
    for (const target of targets) {
      this.inFlight++;
      void this.attempt(event, 1, target);
    }
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

  private async attempt(event: StripeObject, attempt: number, target: WebhookEndpoint): Promise<void> {
    if (this.closed) return;
    const payload = JSON.stringify(event, null, 2);
    let status: number | 'network_error';
    try {
      const response = await fetch(target.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json; charset=utf-8',
          'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'Stripe-Signature': signatureHeader(payload, target.secret),
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
        void this.attempt(event, attempt + 1, target);
      }, retryInMs);
      this.timers.add(timer);
      return;
    }
    if (--this.inFlight === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }
}
