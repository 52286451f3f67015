/**
 * Where an unresolved operation's Idempotency-Key waits: in memory for one page, in
 * `localStorage` to survive a reload and be seen by other tabs. A record lives from the first
 * attempt until the operation has a definitive answer (then the client retires it) or until it
 * expires, which the client sets before the server's idempotency record expires.
 */
export interface StoredKey {
  readonly key: string;
  /** A hash of the exact request body: the key may only ever be sent with that body. */
  readonly fingerprint: string;
  /** After this, the server may have forgotten the key, so it proves nothing; the record is ignored. */
  readonly expiresAtMs: number;
}

export interface IdempotencyKeyStore {
  get(slot: string): StoredKey | undefined;
  set(slot: string, record: StoredKey): void;
  delete(slot: string): void;
}

export class MemoryKeyStore implements IdempotencyKeyStore {
  private readonly records = new Map<string, StoredKey>();
  get(slot: string) {
    return this.records.get(slot);
  }
  set(slot: string, record: StoredKey) {
    this.records.set(slot, record);
  }
  delete(slot: string) {
    this.records.delete(slot);
  }
}

/** The Web Storage calls used; `window.localStorage` fits. */
export interface StorageLike {
  getItem(name: string): string | null;
  setItem(name: string, value: string): void;
  removeItem(name: string): void;
  readonly length?: number;
  key?(index: number): string | null;
}

export interface StorageKeyStoreOptions {
  /** @default 'payments.idempotency.' */
  readonly prefix?: string;
  /** For sweeping expired records at construction. @default Date.now */
  readonly now?: () => number;
}

/**
 * Records in Web Storage, so a reload resumes the same operation and another tab sees it.
 * Storage that throws (Safari private mode, a full quota, storage disabled by policy) degrades
 * to memory for that record: the operation stays safe within the page, only a reload loses it.
 */
export class StorageKeyStore implements IdempotencyKeyStore {
  private readonly prefix: string;
  private readonly fallback = new MemoryKeyStore();

  constructor(
    private readonly storage: StorageLike,
    options: StorageKeyStoreOptions = {},
  ) {
    this.prefix = options.prefix ?? 'payments.idempotency.';
    this.sweepExpired((options.now ?? Date.now)());
  }

  get(slot: string): StoredKey | undefined {
    const remembered = this.fallback.get(slot);
    if (remembered) return remembered;
    try {
      return parseRecord(this.storage.getItem(this.prefix + slot));
    } catch {
      return undefined;
    }
  }

  set(slot: string, record: StoredKey): void {
    try {
      this.storage.setItem(this.prefix + slot, JSON.stringify(record));
      this.fallback.delete(slot);
    } catch {
      this.fallback.set(slot, record);
    }
  }

  delete(slot: string): void {
    this.fallback.delete(slot);
    try {
      this.storage.removeItem(this.prefix + slot);
    } catch {
      // Nothing to undo: a record we could not remove expires on its own.
    }
  }

  /** Records of operations never revisited would otherwise stay in localStorage forever. */
  private sweepExpired(nowMs: number): void {
    try {
      const names: string[] = [];
      for (let i = 0; i < (this.storage.length ?? 0); i++) {
        const name = this.storage.key?.(i);
        if (name?.startsWith(this.prefix)) names.push(name);
      }
      for (const name of names) {
        const record = parseRecord(this.storage.getItem(name));
        if (!record || record.expiresAtMs <= nowMs) this.storage.removeItem(name);
      }
    } catch {
      // Unreadable storage: get() and set() degrade on their own.
    }
  }
}

/** `localStorage` when the page may use it, memory otherwise (reading `localStorage` itself can throw). */
export function browserKeyStore(options: StorageKeyStoreOptions = {}): IdempotencyKeyStore {
  try {
    const storage = (globalThis as { localStorage?: StorageLike }).localStorage;
    if (storage) return new StorageKeyStore(storage, options);
  } catch {
    // SecurityError: storage blocked for this origin.
  }
  return new MemoryKeyStore();
}

function parseRecord(text: string | null): StoredKey | undefined {
  if (text === null) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const { key, fingerprint, expiresAtMs } = value as Record<string, unknown>;
    if (typeof key !== 'string' || typeof fingerprint !== 'string' || typeof expiresAtMs !== 'number') return undefined;
    return { key, fingerprint, expiresAtMs };
  } catch {
    return undefined;
  }
}

/**
 * 53-bit hash (cyrb53) of the exact body string. Synchronous on purpose — two same-tick calls
 * must see each other — and not the body itself, which may hold an email address.
 */
export function fingerprint(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}
