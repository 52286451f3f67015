import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/**
 * The real CLI (pinned aws-cdk) synthesizes offline and esbuild bundles every handler as
 * minified ESM with a source map, and each bundle loads on this Node version.
 */
const outdir = mkdtempSync(path.join(tmpdir(), 'cdk-out-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

it('cdk synth bundles eight loadable, minified ESM handlers with source maps', () => {
  execFileSync('npx', ['cdk', 'synth', '--no-notices', '--quiet', '--output', outdir], {
    env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true', CI: 'true' },
    stdio: 'pipe',
    timeout: 180_000,
  });
  const assets = readdirSync(outdir).filter((entry) => entry.startsWith('asset.') && statSync(path.join(outdir, entry)).isDirectory());
  expect(assets).toHaveLength(8); // seven functions and the problem pages
  for (const asset of assets) {
    const files = readdirSync(path.join(outdir, asset)).sort();
    expect(files).toEqual(['index.mjs', 'index.mjs.map']);
    const code = readFileSync(path.join(outdir, asset, 'index.mjs'), 'utf8');
    expect(code.length / code.split('\n').length).toBeGreaterThan(2000); // minified: long lines
    expect(code).toContain('//# sourceMappingURL=index.mjs.map');
    const loaded = execFileSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(path.join(outdir, asset, 'index.mjs'))}); process.stdout.write(typeof m.handler);`], {
      env: { ...process.env, AWS_REGION: 'us-east-1', ORDERS_TABLE_NAME: 't', IDEMPOTENCY_TABLE_NAME: 't', SUBSCRIPTIONS_TABLE_NAME: 't', EVENTS_QUEUE_URL: 'https://sqs.local/q', STRIPE_API_KEY_SECRET_NAME: 's', STRIPE_WEBHOOK_SECRET_NAME: 's', COGNITO_APP_CLIENT_IDS: 'c' },
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    expect(loaded).toBe('function');
  }
}, 240_000);
