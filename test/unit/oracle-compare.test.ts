import { describe, expect, it } from 'vitest';
import { compareAnswers, normalise, orderedPaths, renderOutcomes, verdictOf } from '../oracle/compare.ts';

const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
  status,
  body,
  headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
});

describe("the oracle's comparison", () => {
  it('knows which levels of an answer the request ordered', () => {
    expect(orderedPaths('/film?select=id,actor(id)&order=id&actor.order=id')).toEqual([[], ['actor']]);
    expect(orderedPaths('/film?select=id')).toEqual([]);
  });

  it('compares rows as a multiset where nothing ordered them, in order where something did', () => {
    const req = { path: '/film?select=id,actor(id)' };
    const a = answer(200, [
      { id: 1, actor: [{ id: 1 }, { id: 2 }] },
      { id: 2, actor: [] },
    ]);
    const b = answer(200, [
      { actor: [], id: 2 },
      { id: 1, actor: [{ id: 2 }, { id: 1 }] },
    ]);
    expect(compareAnswers(req, a, b)).toEqual([]);
    const ordered = { path: '/film?select=id,actor(id)&order=id' };
    expect(compareAnswers(ordered, a, b).map((d) => d.at)).toContain('body[0].id');
    // A column's own array (text[]) keeps its order even where rows do not.
    expect(normalise([{ tags: ['b', 'a'] }], { ordered: [], volatile: [] })).toEqual([{ tags: ['b', 'a'] }]);
  });

  it('compares the status, the headers that carry meaning, and the body; blanks volatile values', () => {
    const req = { path: '/language', volatile: ['*.last_update'] };
    const a = answer(201, [{ id: 7, last_update: 'x' }], { 'content-range': '*/*', 'x-other': '1' });
    const b = answer(201, [{ id: 7, last_update: 'y' }], { 'content-range': '*/*' });
    expect(compareAnswers(req, a, b)).toEqual([]);
    const c = answer(200, [{ id: 8, last_update: 'y' }], { 'content-range': '0-0/*' });
    expect(compareAnswers(req, a, c).map((d) => d.at)).toEqual([
      'status',
      'header content-range',
      'body[0].id',
    ]);
  });

  it('documents differences only where the request says they are (documentedParts); anything else differs', () => {
    const req = {
      path: '/',
      documented: 'why',
      documentedParts: ['host', 'definitions.*.properties.*.default'],
    };
    const doc = (host: string, dflt?: string, type = 'integer') => ({
      host,
      definitions: { film: { properties: { id: { type, ...(dflt ? { default: dflt } : {}) } } } },
    });
    const a = answer(200, doc('0.0.0.0:3000', 'nextval(…)'));
    const onlyThere = compareAnswers(req, a, answer(200, doc('127.0.0.1:3000')));
    expect(onlyThere.length).toBeGreaterThan(0);
    expect(verdictOf(req, onlyThere)).toBe('documented');
    const elsewhere = compareAnswers(req, a, answer(200, doc('127.0.0.1:3000', undefined, 'text')));
    expect(verdictOf(req, elsewhere)).toBe('differ');
    expect(verdictOf(req, compareAnswers(req, a, answer(500, doc('0.0.0.0:3000', 'nextval(…)'))))).toBe(
      'differ',
    );
  });

  it('tallies, and shows each difference; a documented one is counted apart', () => {
    const req = { path: '/x' };
    const diffs = compareAnswers(req, answer(200, [1]), answer(400, { code: 'PGRST100' }));
    expect(verdictOf(req, diffs)).toBe('differ');
    expect(verdictOf({ ...req, documented: 'why' }, diffs)).toBe('documented');
    expect(verdictOf({ ...req, documented: 'why' }, [])).toBe('equal');
    const text = renderOutcomes('fixture', [
      {
        request: req,
        label: 'GET /x',
        oracle: answer(200, [1]),
        pgapp: answer(400, {}),
        differences: diffs,
        verdict: 'differ',
      },
    ]);
    expect(text).toMatch(
      /^fixture: 0 equal, 1 differ, 0 documented\n {2}✗ GET \/x\n {6}status\n {8}oracle: 200\n {8}pgapp: {2}400/,
    );
  });
});
