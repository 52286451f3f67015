import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * `npm start -- --persist DIR` for the emulators' in-memory state: one JSON file per emulator,
 * written when its content changed (checked every half second) and once more when the stack
 * stops, read back at start. The encoding is generic — Maps, Sets and arrays anywhere in the
 * state — so a new kind of object added to an emulator's state is kept without new code here.
 */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function encodeState(value: unknown): Json {
  if (value instanceof Map) return { $map: [...value.entries()].map(([k, v]) => [encodeState(k), encodeState(v)]) };
  if (value instanceof Set) return { $set: [...value].map(encodeState) };
  if (Array.isArray(value)) return value.map(encodeState);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, encodeState(v)]));
  return (value ?? null) as Json;
}

export function decodeState(value: Json): unknown {
  if (Array.isArray(value)) return value.map(decodeState);
  if (value && typeof value === 'object') {
    if (Array.isArray(value.$map) && Object.keys(value).length === 1) return new Map(value.$map.map((entry) => (entry as Json[]).map(decodeState) as [unknown, unknown]));
    if (Array.isArray(value.$set) && Object.keys(value).length === 1) return new Set(value.$set.map(decodeState));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decodeState(v)]));
  }
  return value;
}

const isCollection = (value: unknown) => value instanceof Map || value instanceof Set || Array.isArray(value);
/** A state object grouping collections of its own (e.g. the Stripe emulator's `billing`). */
const isGroup = (value: unknown): value is object => typeof value === 'object' && value !== null && !isCollection(value);

/**
 * Every Map, Set and array field of a state object (its collections), also inside the objects
 * that group collections (`state.billing.customers`), except the transient ones. Collections are
 * what an emulator holds; other fields (clocks, handles) are rebuilt at start.
 */
export function collectionsOf(state: object, transient: readonly string[] = []): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(state)) {
    if (transient.includes(name)) continue;
    if (isCollection(value)) kept[name] = value;
    else if (isGroup(value)) {
      const inner = collectionsOf(value);
      if (Object.keys(inner).length > 0) kept[name] = inner;
    }
  }
  return kept;
}

/** Refills a state object's collections in place (they are often `readonly` fields), groups included. */
export function restoreCollections(state: object, saved: Record<string, unknown>): void {
  const target = state as Record<string, unknown>;
  for (const [name, value] of Object.entries(saved)) {
    const current = target[name];
    if (current instanceof Map && value instanceof Map) {
      current.clear();
      value.forEach((v, k) => current.set(k, v));
    } else if (current instanceof Set && value instanceof Set) {
      current.clear();
      value.forEach((v) => current.add(v));
    } else if (Array.isArray(current) && Array.isArray(value)) {
      current.splice(0, current.length, ...value);
    } else if (isGroup(current) && isGroup(value)) {
      restoreCollections(current, value as Record<string, unknown>);
    }
  }
}

export interface PersistedPart {
  /** File name inside the persist folder. */
  file: string;
  take(): unknown;
  restore(saved: unknown): void;
}

/** Loads each part at start and keeps its file up to date; `stop()` writes a last time. */
export class StateFiles {
  private readonly lastWritten = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dir: string,
    private readonly parts: PersistedPart[],
    private readonly intervalMs = 500,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** Restores every part that has a file; returns the names of those restored. */
  load(): string[] {
    const restored: string[] = [];
    for (const part of this.parts) {
      const file = path.join(this.dir, part.file);
      if (!existsSync(file)) continue;
      const text = readFileSync(file, 'utf8');
      try {
        part.restore(decodeState(JSON.parse(text) as Json));
      } catch (error) {
        throw new Error(`Cannot read ${file} (${(error as Error).message}); move it away to start without it.`);
      }
      this.lastWritten.set(part.file, text);
      restored.push(part.file);
    }
    return restored;
  }

  start(): void {
    this.timer = setInterval(() => this.save(), this.intervalMs);
    this.timer.unref();
  }

  /** Writes each part whose content changed; atomically, so a crash never leaves half a file. */
  save(): void {
    for (const part of this.parts) {
      const text = JSON.stringify(encodeState(part.take()));
      if (this.lastWritten.get(part.file) === text) continue;
      const file = path.join(this.dir, part.file);
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
      this.lastWritten.set(part.file, text);
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.save();
  }
}
