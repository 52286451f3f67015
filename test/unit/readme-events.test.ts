import { readFileSync } from 'node:fs';
import { SUBSCRIBED_EVENT_TYPES } from '../../lambdas/domain/stripe-events';
import { README, webhookEndpointStep, withGeneratedStep } from '../../bin/readme-events';

it('the README lists exactly the handled event types, as generated from the code (npm run readme:events)', () => {
  const readme = readFileSync(README, 'utf8');
  expect(withGeneratedStep(readme)).toBe(readme);
  for (const type of SUBSCRIBED_EVENT_TYPES) expect(readme).toContain(`-d "enabled_events[]=${type}"`);
  expect(readme.match(/-d "enabled_events\[\]=/g)).toHaveLength(SUBSCRIBED_EVENT_TYPES.length);
});

it('notices a README that lost or gained an event', () => {
  const generated = webhookEndpointStep();
  const stale = `before\n${generated.replace(`- \`${SUBSCRIBED_EVENT_TYPES[0]}\`\n`, '')}\nafter`;
  expect(withGeneratedStep(stale)).not.toBe(stale);
});
