/**
 * The dApp's one table markup: a horizontally scrolling wrapper (phone width), a header row and a
 * row per item, each cell described once per column. Pages say what their columns are, not how a
 * table is written; `EventTable` (./EventTable.tsx) is this table over protocol events.
 */
import type { HTMLAttributes, ReactNode, TdHTMLAttributes } from "react";

/** `data-*` attributes the browser tests find rows and cells by. */
type DataAttributes = { [attribute: `data-${string}`]: string | undefined };

export interface Column<Row> {
  header: ReactNode;
  cell(row: Row, index: number): ReactNode;
  /** Attributes of the column's cell in a row (className, title, data-testid, …). */
  cellProps?(row: Row): TdHTMLAttributes<HTMLTableCellElement> & DataAttributes;
}

export interface TableProps<Row> {
  columns: readonly Column<Row>[];
  rows: readonly Row[];
  rowKey(row: Row, index: number): string;
  /** Attributes of a row (className, data-testid, …). */
  rowProps?(row: Row, index: number): HTMLAttributes<HTMLTableRowElement> & DataAttributes;
  testId?: string;
}

export function Table<Row>({ columns, rows, rowKey, rowProps, testId }: TableProps<Row>) {
  return (
    <div className="table-wrap">
      <table data-testid={testId}>
        <thead>
          <tr>
            {columns.map((column, j) => (
              <th key={j}>{column.header}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={rowKey(row, i)} {...rowProps?.(row, i)}>
              {columns.map((column, j) => (
                <td key={j} {...column.cellProps?.(row)}>
                  {column.cell(row, i)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A column of hashes, digests or CIDs: the first `length` characters shown, the whole value in the tooltip. */
export function hashColumn<Row>(header: ReactNode, value: (row: Row) => string | undefined, length = 10): Column<Row> {
  return {
    header,
    cell: (row) => {
      const v = value(row);
      return v ? `${v.slice(0, length)}…` : "—";
    },
    cellProps: (row) => ({ className: "mono", title: value(row) }),
  };
}
