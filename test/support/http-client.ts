import { randomUUID } from 'node:crypto';
import { localToken } from '../../local/token';

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: any;
}

/** A tiny client for the local API: JSON in, JSON out, a local token per (tenant, user). */
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
