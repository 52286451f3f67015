import { collectionsOf, decodeState, encodeState, restoreCollections } from '../../local/persistence';

describe('--persist encoding', () => {
  class State {
    readonly sessions = new Map<string, { id: string; nested: Set<string> }>([['cs_1', { id: 'cs_1', nested: new Set(['a', 'b']) }]]);
    readonly events: { id: string }[] = [{ id: 'evt_1' }];
    readonly faults: string[] = ['transient'];
    readonly handles = new Set(['h1']);
    clock = 42;
  }

  it('round-trips Maps, Sets and arrays at any depth through JSON', () => {
    const state = new State();
    const text = JSON.stringify(encodeState(collectionsOf(state)));
    expect(decodeState(JSON.parse(text))).toEqual(collectionsOf(state));
  });

  it('keeps every collection a state object has, new kinds included, except the transient ones', () => {
    const saved = collectionsOf(new State(), ['faults']);
    expect(Object.keys(saved).sort()).toEqual(['events', 'handles', 'sessions']);
  });

  it('refills a fresh state object in place (readonly fields stay the same objects)', () => {
    const before = new State();
    before.sessions.set('cs_2', { id: 'cs_2', nested: new Set() });
    before.events.push({ id: 'evt_2' });
    const saved = decodeState(JSON.parse(JSON.stringify(encodeState(collectionsOf(before, ['faults']))))) as Record<string, unknown>;
    const after = new State();
    after.sessions.clear();
    const sessions = after.sessions;
    restoreCollections(after, saved);
    expect(after.sessions).toBe(sessions);
    expect([...after.sessions.keys()]).toEqual(['cs_1', 'cs_2']);
    expect(after.sessions.get('cs_1')!.nested).toEqual(new Set(['a', 'b']));
    expect(after.events).toEqual([{ id: 'evt_1' }, { id: 'evt_2' }]);
    expect(after.faults).toEqual(['transient']);
  });
});

it('keeps the collections of a grouping object too (the Stripe emulator\'s billing: customers, subscriptions)', () => {
  class Billing {
    readonly customers = new Map<string, object>();
    readonly clock = 42; // not a collection: rebuilt at start
  }
  class Grouped {
    readonly sessions = new Map<string, object>();
    readonly billing = new Billing();
    readonly registry = { endpoints: new Map<string, object>() };
  }
  const before = new Grouped();
  before.sessions.set('cs_1', { id: 'cs_1' });
  before.billing.customers.set('cus_1', { id: 'cus_1', metadata: { userKey: 'acme#alice' } });
  before.registry.endpoints.set('we_1', { url: 'http://old-port' });
  const saved = decodeState(JSON.parse(JSON.stringify(encodeState(collectionsOf(before, ['registry']))))) as Record<string, unknown>;
  const after = new Grouped();
  restoreCollections(after, saved);
  expect([...after.billing.customers.values()]).toEqual([{ id: 'cus_1', metadata: { userKey: 'acme#alice' } }]);
  expect([...after.sessions.keys()]).toEqual(['cs_1']);
  expect(after.registry.endpoints.size).toBe(0); // transient: registered again at start
});
