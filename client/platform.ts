/**
 * What the client needs from its host, found at call time and never assumed: browsers older
 * than the README's list, non-secure origins (no `crypto.randomUUID`), polyfilled `fetch`
 * without abort support, and Node all differ. Typed here without the DOM lib or @types/node,
 * so the package compiles and is consumed with neither.
 */

/** The real AbortSignal when the consumer has DOM or Node types; otherwise a type nothing can produce. */
export type HostAbortSignal = typeof globalThis extends { AbortSignal: { prototype: infer Signal } } ? Signal : never;

/** The part of `fetch`'s init this client sends. The global `fetch` (DOM, Node, undici) satisfies it. */
export interface FetchInit {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: HostAbortSignal;
}

/** The part of a `Response` this client reads. */
export interface FetchResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export type Fetch = (url: string, init: FetchInit) => Promise<FetchResponse>;

interface Host {
  fetch?: Fetch;
  crypto?: { randomUUID?: () => string; getRandomValues?: (array: Uint8Array) => Uint8Array };
  AbortController?: new () => { readonly signal: HostAbortSignal; abort(): void };
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}
const host = globalThis as unknown as Host;

export class UnsupportedEnvironmentError extends Error {
  constructor(missing: string) {
    super(`This environment has no ${missing}; the payments client cannot run here (see the README's supported browsers).`);
    this.name = 'UnsupportedEnvironmentError';
  }
}

export function hostFetch(): Fetch {
  const fetch = host.fetch;
  if (typeof fetch !== 'function') throw new UnsupportedEnvironmentError('fetch');
  return (url, init) => fetch.call(globalThis, url, init); // unbound window.fetch throws "Illegal invocation"
}

/**
 * A random UUID v4. `crypto.randomUUID` is missing on plain-HTTP origins and Safari < 15.4;
 * `getRandomValues` is everywhere else. Never Math.random: a key must not repeat across users' devices.
 */
export function randomUuid(): string {
  const crypto = host.crypto;
  if (typeof crypto?.randomUUID === 'function') return crypto.randomUUID();
  if (typeof crypto?.getRandomValues !== 'function') throw new UnsupportedEnvironmentError('crypto.getRandomValues');
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class AttemptTimeoutError extends Error {
  constructor(ms: number) {
    super(`no complete answer within ${Math.round(ms)} ms`);
    this.name = 'AttemptTimeoutError';
  }
}

/**
 * Runs one attempt (request and body) with a hard deadline. The signal aborts the request where
 * AbortController exists; the race bounds the attempt even when `fetch` ignores the signal.
 */
export function withDeadline<T>(ms: number, attempt: (signal: HostAbortSignal | undefined) => Promise<T>): Promise<T> {
  const controller = typeof host.AbortController === 'function' ? new host.AbortController() : undefined;
  let timer: unknown;
  const deadline = new Promise<never>((_, reject) => {
    timer = host.setTimeout(() => {
      reject(new AttemptTimeoutError(ms));
      controller?.abort();
    }, ms);
  });
  const run = Promise.resolve().then(() => attempt(controller?.signal));
  return Promise.race([run, deadline]).finally(() => host.clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => host.setTimeout(resolve, ms));
