/**
 * Prepared statements of one SQLite connection, compiled once per SQL text. Compiling a statement
 * costs more than running most of the node's (a key lookup, a one-row update), and the node runs
 * the same few dozen on every tick and every chain event. `get`, `all` and `run` reset a statement
 * when they return, so one statement serves every call; the connection finalizes them when it closes.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";

export type PreparedStatements = (sql: string) => StatementSync;

export function preparedStatements(db: DatabaseSync): PreparedStatements {
  const cache = new Map<string, StatementSync>();
  return (sql) => {
    let statement = cache.get(sql);
    if (statement === undefined) cache.set(sql, (statement = db.prepare(sql)));
    return statement;
  };
}
