import { topIds } from './score-rows';

const row = (...values: number[]) => Float32Array.from(values);

describe('topIds', () => {
  it('returns the ids of the k highest values, best first', () => {
    expect(topIds(row(-3, -0.5, -2, -0.1, -4), 3)).toEqual([3, 1, 2]);
  });

  it('breaks ties to the lower id, at the head and at the cut', () => {
    expect(topIds(row(-1, -2, -1, -2, -1), 2)).toEqual([0, 2]);
    expect(topIds(row(-5, -2, -3, -2, -2), 2)).toEqual([1, 3]);
    // a tie with the last kept value does not displace it
    expect(topIds(row(-1, -2, -2), 2)).toEqual([0, 1]);
  });

  it('never returns skipA or skipB, taking the next best in their place', () => {
    const r = row(-0.1, -0.2, -0.3, -0.4, -0.5);
    expect(topIds(r, 2, 0)).toEqual([1, 2]);
    expect(topIds(r, 2, -1, 1)).toEqual([0, 2]);
    expect(topIds(r, 2, 0, 1)).toEqual([2, 3]);
  });

  it('returns every id, best first, when k exceeds the row', () => {
    expect(topIds(row(-2, -1, -3), 5)).toEqual([1, 0, 2]);
    expect(topIds(row(-2, -1, -3), 5, 1)).toEqual([0, 2]);
  });

  it('keeps -Infinity ids once better ones run out', () => {
    expect(topIds(row(-Infinity, -1, -Infinity), 2)).toEqual([1, 0]);
  });
});
