/**
 * Fixed ports of the tests and benchmarks, shifted by `TESSELLATE_TEST_PORT_OFFSET` (default 0)
 * so that several checkouts can run their real-network tests on one machine at once.
 */
export function testPort(base: number): number {
  const raw = process.env.TESSELLATE_TEST_PORT_OFFSET ?? "0";
  const offset = Number(raw);
  if (!Number.isInteger(offset) || offset < 0 || offset > 50_000) {
    throw new Error(`TESSELLATE_TEST_PORT_OFFSET: "${raw}" is not a whole number of ports between 0 and 50000 — unset it or give e.g. 100`);
  }
  return base + offset;
}
