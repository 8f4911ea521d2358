/**
 * Seeded integer random numbers. A pixel's stream is derived from (seed, frame, x, y) only, so its
 * value never depends on which tile, worker or machine computed it. Integer arithmetic only
 * (Math.imul, xor, shifts): bit-identical everywhere.
 */

/** lowbias32 (C. Wellons): a well-mixing bijection on unsigned 32-bit integers. */
export function hash32(value: number): number {
  let x = value >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The starting state of the stream for pixel (x, y) of `frame`; x and y are full-frame coordinates. */
export function pixelSeed(seed: number, frame: number, x: number, y: number): number {
  let h = hash32((seed >>> 0) ^ 0xa511e9b3);
  h = hash32(h ^ (frame >>> 0));
  h = hash32(h ^ (x >>> 0));
  h = hash32(h ^ (y >>> 0));
  return h;
}

/** A splitmix32-style generator: a Weyl counter fed through an integer hash. Period 2^32. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The next unsigned 32-bit integer. */
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  }

  /** A uniform number in [0, 1) with 32 random bits (the division by 2^32 is exact). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }
}
