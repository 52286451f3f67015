import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/**
 * client/ as its consumers get it: `npm pack` (which builds it), installed into a scratch
 * project, compiled under strict + exactOptionalPropertyTypes + NodeNext with checked library
 * types — without the DOM lib or @types/node, with @types/node, and with the DOM lib — then run
 * in Node.
 */
const root = path.join(__dirname, '..', '..');
const tsc = path.join(root, 'node_modules', '.bin', 'tsc');
let scratch: string;
let packedFiles: string[];

beforeAll(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'client-package-'));
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: path.join(root, 'client'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as {
    filename: string;
    files: { path: string }[];
  }[];
  packedFiles = packed[0]!.files.map((f) => f.path).sort();
  const installed = path.join(scratch, 'node_modules', '@exactly-once-payments', 'client');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(scratch, packed[0]!.filename), '-C', installed, '--strip-components=1']);
  writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
}, 120_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const strictest = {
  target: 'ES2022',
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: false,
  typeRoots: [path.join(root, 'node_modules', '@types')],
};
function compile(name: string, source: string, compilerOptions: Record<string, unknown>) {
  writeFileSync(path.join(scratch, `${name}.ts`), source);
  writeFileSync(path.join(scratch, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions: { ...strictest, ...compilerOptions, outDir: `out-${name}` }, files: [`${name}.ts`] }));
  try {
    execFileSync(tsc, ['-p', `tsconfig.${name}.json`], { cwd: scratch, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    throw new Error(`${name}.ts does not compile:\n${(error as { stdout: string }).stdout}`);
  }
}

it('packs the built ES modules and their types, nothing else', () => {
  const modules = ['errors', 'key-store', 'openapi-types', 'payments-client', 'platform', 'retry-policy'];
  expect(packedFiles).toEqual([...modules.flatMap((m) => [`dist/${m}.d.ts`, `dist/${m}.js`]), 'package.json'].sort());
});

it('compiles without the DOM lib or @types/node, and runs in Node', () => {
  compile(
    'bare',
    `
import { PaymentsClient, MemoryKeyStore, PaymentsApiError, type Answer, type Checkout, type Fetch, type Order } from '@exactly-once-payments/client';
declare const console: { log(text: string): void; error(value: unknown): void }; // this program's own need, not the library's

const sent: string[] = [];
const fetch: Fetch = async (url, init) => {
  sent.push(init.method + ' ' + url + ' ' + (init.headers['Idempotency-Key'] ?? ''));
  return { status: 201, headers: { get: () => null }, text: async () => JSON.stringify({ orderId: 'ord_1', status: 'pending', checkoutSessionId: 'cs_1', checkoutUrl: null }) };
};
const payments = new PaymentsClient({ baseUrl: 'https://api.example', token: () => 'token', fetch, keyStore: new MemoryKeyStore() });
const cart = { lineItems: [{ price: 'price_1', quantity: 1 }], successUrl: 'https://shop.example/ok', cancelUrl: 'https://shop.example/cart' };
const [first, second]: Answer<Checkout>[] = await Promise.all([payments.createCheckout(cart, { operationId: 'cart-1' }), payments.createCheckout(cart, { operationId: 'cart-1' })]);
// @ts-expect-error the operation identity is required
void payments.createRefund({ orderId: first!.data.orderId }).catch(() => undefined);
const status: Order['status'] = 'partially_refunded';
const failure: unknown = new Error();
if (failure instanceof PaymentsApiError) console.error(failure.problem?.type);
console.log(JSON.stringify({ same: first === second, sent, status, unresolved: payments.isUnresolved('createCheckout', 'cart-1') }));
`,
    { lib: ['ES2022'], types: [] },
  );
  const output = execFileSync(process.execPath, [path.join(scratch, 'out-bare', 'bare.js')], { cwd: scratch, encoding: 'utf8' });
  const result = JSON.parse(output) as { same: boolean; sent: string[]; status: string; unresolved: boolean };
  expect(result).toMatchObject({ same: true, status: 'partially_refunded', unresolved: false });
  expect(result.sent).toHaveLength(1);
  expect(result.sent[0]).toMatch(/^POST https:\/\/api\.example\/v1\/checkouts "[0-9a-f-]{36}"$/);
}, 60_000);

it('takes Node\'s global fetch under @types/node', () => {
  compile(
    'node',
    `
import { PaymentsClient } from '@exactly-once-payments/client';
export const payments = new PaymentsClient({ baseUrl: 'http://127.0.0.1:3000', token: async () => process.env['TOKEN'] ?? '', fetch });
`,
    { lib: ['ES2022'], types: ['node'] },
  );
}, 60_000);

it('takes window.fetch and localStorage under the DOM lib', () => {
  compile(
    'dom',
    `
import { PaymentsClient, StorageKeyStore, browserKeyStore } from '@exactly-once-payments/client';
export const payments = new PaymentsClient({ baseUrl: location.origin, token: () => 'token', fetch: window.fetch, keyStore: new StorageKeyStore(window.localStorage) });
export const defaults = new PaymentsClient({ baseUrl: location.origin, token: () => 'token', keyStore: browserKeyStore({ prefix: 'user-1.' }) });
`,
    { lib: ['ES2022', 'DOM'], types: [] },
  );
}, 60_000);

it("compiles the README's client examples against the package", () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## The client\n'), readme.indexOf('\n## ', readme.indexOf('## The client\n') + 1));
  const examples = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(examples.length).toBeGreaterThanOrEqual(5);
  const world = `
declare const session: { idToken: string; userId: string; refresh(): Promise<string> };
declare const cart: { id: string; request: CheckoutRequest };
declare const editedCart: { request: CheckoutRequest };
declare const ticket: { id: string };
declare const orderId: string;
declare const amount: number;
declare const buyButton: { onclick: (() => void) | null };
declare const location: { assign(url: string): void };
declare function notice(text: string): void;
declare function showRefunds(refunds: Order['refunds']): void;
`;
  const [construction, ...uses] = examples;
  expect(construction).toContain('new PaymentsClient(');
  const imports = "import { PaymentsApiError, RetriesExhaustedError, UnresolvedOperationError, type CheckoutRequest, type Order } from '@exactly-once-payments/client';";
  const program = [
    construction!.replace(/^import \{ (.*) \} from/m, 'import { $1, PaymentsApiError, RetriesExhaustedError, UnresolvedOperationError, type CheckoutRequest, type Order } from'),
    world,
    ...uses.map((example) => `{\n${example}}`),
    'export {};',
  ].join('\n');
  expect(program).not.toContain(imports); // one import line, extended above
  compile('readme', program, { lib: ['ES2022'], types: [] });
}, 60_000);
