import { randomBytes } from 'node:crypto';
import type { FormValue } from './form-encoding';
import { nowSeconds, stripeId, type StripeObject } from './stripe-objects';

/**
 * Stripe's webhook endpoints API (`/v1/webhook_endpoints`), modelled on Stripe's object: the
 * signing `secret` is returned only by the create call, never by retrieve, list or update;
 * `disabled=true|false` on update sets `status`; an account holds at most 16 endpoints.
 * `npm run doctor` reads them; delivery (webhook-delivery.ts) sends each event to the enabled
 * endpoints subscribed to its type.
 */
export const MAX_WEBHOOK_ENDPOINTS = 16;

export interface WebhookEndpointError {
  status: number;
  error: { type: string; code?: string; message: string; param?: string };
}

interface EndpointRequest {
  params: Record<string, FormValue>;
  query: URLSearchParams;
  path: string;
}

export interface WebhookEndpointRoute<R extends EndpointRequest> {
  method: string;
  pattern: RegExp;
  handle: (request: R, match: RegExpExecArray) => StripeObject | Record<string, unknown>;
}

/** Registered endpoints with their secrets, which the API shows only once. */
export class WebhookEndpointRegistry {
  private readonly endpoints = new Map<string, { object: StripeObject; secret: string }>();

  /** Endpoints an event of this type goes to: enabled and subscribed to it (or to `*`). */
  subscribedTo(eventType: string): { url: string; secret: string }[] {
    return [...this.endpoints.values()]
      .filter(({ object }) => object.status === 'enabled' && (object.enabled_events as string[]).some((e) => e === '*' || e === eventType))
      .map(({ object, secret }) => ({ url: object.url as string, secret }));
  }

  /** An endpoint configured at start-up (the local stack's receiver), subscribed to every event. */
  register(endpoint: { url: string; secret: string }): StripeObject {
    const object: StripeObject = {
      id: stripeId('we'), object: 'webhook_endpoint', api_version: null, application: null, created: nowSeconds(), description: null,
      enabled_events: ['*'], livemode: false, metadata: {}, status: 'enabled', url: endpoint.url,
    };
    this.endpoints.set(object.id, { object, secret: endpoint.secret });
    return object;
  }

  /**
   * Routes for the emulator's route table. `fail` builds the server's error (so the server
   * answers it like any other Stripe error); `list` is the server's pagination.
   */
  routes<R extends EndpointRequest>(fail: (e: WebhookEndpointError) => Error, list: (objects: StripeObject[], request: R) => Record<string, unknown>): WebhookEndpointRoute<R>[] {
    const invalid = (message: string, param?: string, code = 'parameter_invalid') => fail({ status: 400, error: { type: 'invalid_request_error', code, message, ...(param ? { param } : {}) } });
    const found = (id: string) => {
      const entry = this.endpoints.get(id);
      if (!entry) throw fail({ status: 404, error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such webhook endpoint: '${id}'`, param: 'id' } });
      return entry;
    };
    const known = (params: Record<string, FormValue>, allowed: string[]) => {
      const unknown = Object.keys(params).find((k) => !allowed.includes(k));
      if (unknown) throw invalid(`Received unknown parameter: ${unknown}`, unknown, 'parameter_unknown');
    };
    const text = (params: Record<string, FormValue>, name: string): string | undefined => {
      const value = params[name];
      if (value === undefined) return undefined;
      if (typeof value !== 'string') throw invalid(`Invalid string: ${name}`, name);
      return value;
    };
    const url = (value: string) => {
      let parsed: URL;
      try {
        parsed = new URL(value);
      } catch {
        throw invalid('Invalid URL: URL must be a valid URL with a scheme of http or https', 'url', 'url_invalid');
      }
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw invalid('Invalid URL: URL must be a valid URL with a scheme of http or https', 'url', 'url_invalid');
      return value;
    };
    const events = (value: FormValue | undefined): string[] => {
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) throw invalid('Invalid array', 'enabled_events');
      const items = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
      if (items.length === 0) throw fail({ status: 400, error: { type: 'invalid_request_error', code: 'parameter_missing', message: 'Missing required param: enabled_events.', param: 'enabled_events' } });
      for (const item of items) {
        if (typeof item !== 'string' || !(item === '*' || /^[a-z_]+(\.[a-z_]+)+$/.test(item))) throw invalid(`Invalid enabled_events: ${JSON.stringify(item)} is not an event type`, 'enabled_events');
      }
      return [...new Set(items as string[])];
    };
    const metadata = (value: FormValue | undefined, current: Record<string, string> = {}) => {
      if (value === undefined) return current;
      if (value === '') return {};
      if (typeof value !== 'object' || Array.isArray(value)) throw invalid('Invalid metadata', 'metadata');
      const next = { ...current };
      for (const [k, v] of Object.entries(value)) {
        if (v === '') delete next[k];
        else next[k] = String(v);
      }
      return next;
    };
    const publicView = (object: StripeObject) => ({ ...object });

    const create = (params: Record<string, FormValue>) => {
      known(params, ['url', 'enabled_events', 'api_version', 'description', 'metadata', 'connect', 'expand']);
      if (this.endpoints.size >= MAX_WEBHOOK_ENDPOINTS) throw invalid(`You have reached the maximum of ${MAX_WEBHOOK_ENDPOINTS} test webhook endpoints.`, undefined, 'webhook_endpoint_limit_reached');
      const endpointUrl = text(params, 'url');
      if (!endpointUrl) throw fail({ status: 400, error: { type: 'invalid_request_error', code: 'parameter_missing', message: 'Missing required param: url.', param: 'url' } });
      const apiVersion = text(params, 'api_version') ?? null;
      if (apiVersion !== null && !/^\d{4}-\d{2}-\d{2}(\.\w+)?$/.test(apiVersion)) throw invalid(`Invalid api_version: ${apiVersion}`, 'api_version');
      const secret = `whsec_${randomBytes(24).toString('hex')}`;
      const object: StripeObject = {
        id: stripeId('we'), object: 'webhook_endpoint', api_version: apiVersion, application: null, created: nowSeconds(),
        description: text(params, 'description') || null, enabled_events: events(params.enabled_events), livemode: false,
        metadata: metadata(params.metadata), status: 'enabled', url: url(endpointUrl),
      };
      this.endpoints.set(object.id, { object, secret });
      return { ...publicView(object), secret };
    };

    const update = (params: Record<string, FormValue>, id: string) => {
      const entry = found(id);
      known(params, ['url', 'enabled_events', 'description', 'metadata', 'disabled', 'expand']);
      const disabled = text(params, 'disabled');
      if (disabled !== undefined && disabled !== 'true' && disabled !== 'false') throw invalid('Invalid boolean: disabled', 'disabled');
      const endpointUrl = text(params, 'url');
      const description = text(params, 'description');
      entry.object = {
        ...entry.object,
        ...(endpointUrl !== undefined ? { url: url(endpointUrl) } : {}),
        ...(params.enabled_events !== undefined ? { enabled_events: events(params.enabled_events) } : {}),
        ...(description !== undefined ? { description: description || null } : {}),
        metadata: metadata(params.metadata, entry.object.metadata as Record<string, string>),
        ...(disabled !== undefined ? { status: disabled === 'true' ? 'disabled' : 'enabled' } : {}),
      };
      return publicView(entry.object);
    };

    return [
      { method: 'POST', pattern: /^\/v1\/webhook_endpoints$/, handle: (r) => create(r.params) },
      { method: 'GET', pattern: /^\/v1\/webhook_endpoints$/, handle: (r) => list([...this.endpoints.values()].map((e) => publicView(e.object)), r) },
      { method: 'GET', pattern: /^\/v1\/webhook_endpoints\/([^/]+)$/, handle: (_, m) => publicView(found(m[1]).object) },
      { method: 'POST', pattern: /^\/v1\/webhook_endpoints\/([^/]+)$/, handle: (r, m) => update(r.params, m[1]) },
      {
        method: 'DELETE', pattern: /^\/v1\/webhook_endpoints\/([^/]+)$/,
        handle: (_, m) => { found(m[1]); this.endpoints.delete(m[1]); return { id: m[1], object: 'webhook_endpoint', deleted: true }; },
      },
    ];
  }
}
