/** Seeded randomness for property tests, so that a failure reproduces from its seed. */

/** mulberry32: a deterministic PRNG in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Splits `data` into chunks of random sizes from 1 to `max` (views, not copies). */
export function randomChunks(data: Buffer, max: number, rand: () => number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length;) {
    const n = 1 + Math.floor(rand() * max);
    out.push(data.subarray(i, i + n));
    i += n;
  }
  return out;
}
