/**
 * Minimal schema checking with JSON Pointers (RFC 6901) to the offending field, so a 400 says
 * exactly what to fix. Unknown fields are rejected: a client can never smuggle in an amount.
 */
export interface FieldError {
  pointer: string;
  detail: string;
}

export class RequestValidationError extends Error {
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.pointer}: ${e.detail}`).join('; '));
    this.name = 'RequestValidationError';
  }
}

export class Fields {
  readonly errors: FieldError[] = [];

  fail(pointer: string, detail: string): undefined {
    this.errors.push({ pointer, detail });
    return undefined;
  }

  object(value: unknown, pointer: string, allowed: readonly string[]): Record<string, unknown> | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return this.fail(pointer, 'must be an object');
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.fail(`${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, 'is not a known field');
    }
    return value as Record<string, unknown>;
  }

  string(value: unknown, pointer: string, { pattern, maxLength }: { pattern?: RegExp; maxLength: number }) {
    if (typeof value !== 'string') return this.fail(pointer, 'must be a string');
    if (value.length === 0 || value.length > maxLength) return this.fail(pointer, `must be 1 to ${maxLength} characters`);
    if (pattern && !pattern.test(value)) return this.fail(pointer, `must match ${pattern.source}`);
    return value;
  }

  integer(value: unknown, pointer: string, { min, max }: { min: number; max: number }) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) return this.fail(pointer, 'must be an integer');
    if (value < min || value > max) return this.fail(pointer, `must be between ${min} and ${max}`);
    return value;
  }

  webUrl(value: unknown, pointer: string) {
    const text = this.string(value, pointer, { maxLength: 2048 });
    if (text === undefined) return undefined;
    try {
      const url = new URL(text);
      if (url.protocol === 'https:' || url.protocol === 'http:') return text;
    } catch {
      // fall through to the error below
    }
    return this.fail(pointer, 'must be an absolute http(s) URL');
  }

  /** Throws with every collected error, or returns the value built from the checked fields. */
  done<T>(build: () => T): T {
    if (this.errors.length > 0) throw new RequestValidationError(this.errors);
    return build();
  }
}
