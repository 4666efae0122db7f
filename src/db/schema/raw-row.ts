// Raw row types and column lists derived from the drizzle tables: what a bun:sqlite SELECT of a table's columns returns.
import { type Column, getTableColumns, getTableName, type Table } from "drizzle-orm";

/**
 * A column's value as bun:sqlite returns it, which is not always what drizzle's `$inferSelect` says: drizzle maps
 * boolean and timestamp columns to booleans and Dates, the raw row keeps the stored integers (JSON stays text).
 */
type RawValue<C extends Column> =
  | (C["_"]["dataType"] extends "boolean" | "date" ? number : C["_"]["dataType"] extends "json" ? string : C["_"]["data"])
  | (C["_"]["notNull"] extends true ? never : null);

/** A table's row keyed by SQL column name (`org_id`, not drizzle's `orgId`), as raw SQL statements read it. */
export type RawRow<T extends Table> = {
  [K in keyof T["_"]["columns"] as T["_"]["columns"][K]["_"]["name"]]: RawValue<T["_"]["columns"][K]>;
};

export type ColumnName<T extends Table> = keyof RawRow<T> & string;

/** The table's SQL column names, in the order the schema declares them. */
export function columnNames<T extends Table>(table: T): ColumnName<T>[] {
  return Object.values(getTableColumns(table)).map((c) => c.name as ColumnName<T>);
}

/** `a, b, c` (or `x.a, x.b, x.c` with an alias): every column of the table, for a SELECT or an INSERT. */
export function columnList<T extends Table>(table: T, alias?: string): string {
  return columnNames(table)
    .map((c) => (alias ? `${alias}.${c}` : c))
    .join(", ");
}

/** `?, ?, ?`: one placeholder per column of the table, in columnNames order. */
export function placeholders<T extends Table>(table: T): string {
  return columnNames(table)
    .map(() => "?")
    .join(", ");
}

/** The table's SQL name, its columns in schema order, and which of them are SQL integers: what an engine-to-engine copy needs. */
export function tableShape(table: Table): { name: string; columns: string[]; integers: ReadonlySet<string> } {
  const cols = Object.values(getTableColumns(table));
  return {
    name: getTableName(table),
    columns: cols.map((c) => c.name),
    integers: new Set(cols.filter((c) => c.getSQLType() === "integer").map((c) => c.name)),
  };
}
