import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/** Redocly's recommended rules (redocly.yaml) over docs/openapi.yaml: no error, no warning. */
it('docs/openapi.yaml passes `redocly lint`', () => {
  const root = path.join(__dirname, '..', '..');
  const lint = spawnSync(path.join(root, 'node_modules', '.bin', 'redocly'), ['lint', 'docs/openapi.yaml', '--format=json'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    timeout: 60_000,
  });
  const report = JSON.parse(lint.stdout) as { totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string; location: { pointer: string }[] }[] };
  const problems = report.problems.map((p) => `${p.ruleId} at ${p.location.map((l) => l.pointer).join(', ')}: ${p.message}`);
  expect(problems).toEqual([]);
  expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  expect(lint.status).toBe(0);
});
