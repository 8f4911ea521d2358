/**
 * A list of protocol events as a table: the block, the columns the page chooses, the
 * transaction. The Audit page's event list, the Job page's timeline and the Network page's
 * settlements are each one of these.
 */
import type { FoldEvent } from "@tessellate/sdk";
import { Table, hashColumn, type Column, type TableProps } from "./Table.tsx";

/** The event's name. */
export const eventNameColumn: Column<FoldEvent> = { header: "Event", cell: (e) => e.eventName };

export function EventTable({
  events,
  columns,
  rowProps,
  testId,
}: {
  events: readonly FoldEvent[];
  /** The columns between the block and the transaction. */
  columns: readonly Column<FoldEvent>[];
  rowProps?: TableProps<FoldEvent>["rowProps"];
  testId?: string;
}) {
  return (
    <Table
      testId={testId}
      rows={events}
      rowKey={(e) => `${e.blockNumber}:${e.logIndex}`}
      rowProps={rowProps}
      columns={[{ header: "Block", cell: (e) => e.blockNumber.toString() }, ...columns, hashColumn<FoldEvent>("Transaction", (e) => e.transactionHash)]}
    />
  );
}
