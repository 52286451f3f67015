import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** client/openapi-types.ts is generated from docs/openapi.yaml; it must be regenerated when the contract changes. */
it('client/openapi-types.ts matches docs/openapi.yaml (run `npm run client:types`)', () => {
  const root = path.join(__dirname, '..', '..');
  const dir = mkdtempSync(path.join(tmpdir(), 'openapi-types-'));
  try {
    const out = path.join(dir, 'types.ts');
    execFileSync(path.join(root, 'node_modules', '.bin', 'openapi-typescript'), [path.join(root, 'docs', 'openapi.yaml'), '-o', out], { stdio: 'pipe' });
    expect(readFileSync(path.join(root, 'client', 'openapi-types.ts'), 'utf8')).toBe(readFileSync(out, 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
