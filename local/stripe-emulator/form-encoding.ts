/**
 * Decodes Stripe's request encoding (application/x-www-form-urlencoded with bracketed keys,
 * `line_items[0][price]=price_1`), the inverse of stripe-node's stringifyRequestData.
 */
export type FormValue = string | FormValue[] | { [key: string]: FormValue };

export function decodeStripeForm(text: string): Record<string, FormValue> {
  const root: Record<string, FormValue> = {};
  const appended = new Map<string, number>();
  for (const [bracketKey, value] of new URLSearchParams(text)) {
    // `a[]=x&a[]=y` (curl, PHP style) appends, like `a[0]=x&a[1]=y` (stripe-node).
    const rawKey = bracketKey.replace(/\[\]/g, (_, offset: number) => {
      const prefix = bracketKey.slice(0, offset);
      const index = appended.get(prefix) ?? 0;
      appended.set(prefix, index + 1);
      return `[${index}]`;
    });
    const match = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(rawKey);
    if (!match) continue;
    const path = [match[1], ...[...match[2].matchAll(/\[([^[\]]*)\]/g)].map((m) => m[1])];
    let node: Record<string, FormValue> = root;
    path.forEach((segment, depth) => {
      if (depth === path.length - 1) {
        node[segment] = value;
        return;
      }
      const child = node[segment];
      node = (typeof child === 'object' && child !== null ? child : (node[segment] = {})) as Record<string, FormValue>;
    });
  }
  return arraysFromIndexedObjects(root) as Record<string, FormValue>;
}

/** `{ "0": a, "1": b }` becomes `[a, b]`, recursively, as Stripe's server reads it. */
function arraysFromIndexedObjects(value: FormValue): FormValue {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(arraysFromIndexedObjects);
  const keys = Object.keys(value);
  const converted = Object.fromEntries(keys.map((k) => [k, arraysFromIndexedObjects(value[k])]));
  const indexed = keys.length > 0 && keys.every((k, i) => /^\d+$/.test(k)) && keys.map(Number).sort((a, b) => a - b).every((n, i) => n === i);
  return indexed ? keys.map((_, i) => converted[String(i)]) : converted;
}
