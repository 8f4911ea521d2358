/** JSON for the state file: bigints survive as `{ "$bigint": "…" }`. */
export function jsonWithBigints(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? { $bigint: v.toString() } : v));
}

export function parseWithBigints(text: string): unknown {
  return JSON.parse(text, (_k, v) => (v && typeof v === "object" && "$bigint" in v ? BigInt(v.$bigint) : v));
}
