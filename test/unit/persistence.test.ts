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
