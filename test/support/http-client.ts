import { randomUUID } from 'node:crypto';
import { localToken } from '../../local/token';
import { expectResponseInSpec } from './contract';

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: any;
}

const headersOf = (headers: Headers) => {
  const byName: Record<string, string> = {};
  headers.forEach((value, name) => (byName[name] = value));
  return byName;
};

/**
 * `fetch` that checks every answer of the API against docs/openapi.yaml (test/support/contract.ts)
 * before handing it on; give it to the PaymentsClient under test.
 */
export const contractCheckedFetch: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  const url = new URL(input instanceof Request ? input.url : String(input));
  const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
  await expectResponseInSpec(method, url.pathname, { status: response.status, headers: headersOf(response.headers), bodyText: (await response.clone().text()) || undefined });
  return response;
};

/** A tiny client for the local API: JSON in, JSON out, a local token per (tenant, user); every answer checked against the spec. */
export function apiClient(baseUrl: string, tenantId = 'acme', userId = 'alice') {
  const token = localToken(tenantId, userId);
  const request = async (method: string, path: string, options: { body?: unknown; key?: string | null; headers?: Record<string, string> } = {}): Promise<HttpResponse> => {
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, ...options.headers };
    if (options.body !== undefined) headers['Content-Type'] ??= 'application/json';
    if (options.key !== null && method === 'POST') headers['Idempotency-Key'] = options.key ?? randomUUID();
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
    });
    const text = await response.text();
    await expectResponseInSpec(method, path, { status: response.status, headers: headersOf(response.headers), bodyText: text || undefined });
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  };
  return {
    post: (path: string, body: unknown, key?: string | null, headers?: Record<string, string>) => request('POST', path, { body, key, headers }),
    get: (path: string) => request('GET', path),
    request,
  };
}

/** Polls until `probe` returns something truthy; the wait is for asynchronous delivery, not a speed claim. */
export async function eventually<T>(probe: () => Promise<T | undefined | false>, timeoutMs = 20_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
