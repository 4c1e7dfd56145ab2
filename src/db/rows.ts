import { AppError } from "../errors.ts";

/**
 * The rows of a raw `db.execute(sql…)` result, whichever driver ran it: postgres.js answers an array, PGlite an object
 * with `rows`. Anything else (a driver change) is refused rather than read as rows. Column types are the query's own
 * (`select … as name`), which is why callers name them with `T`.
 */
export function rowsOf<T extends object = Record<string, unknown>>(result: unknown): T[] {
  const rows = Array.isArray(result) ? result : result && typeof result === "object" && Array.isArray((result as { rows?: unknown }).rows) ? (result as { rows: unknown[] }).rows : null;
  if (!rows || !rows.every((r) => r !== null && typeof r === "object")) throw new AppError("db_result", "the database driver returned no rows array for a raw query", { status: 500 });
  return rows as T[];
}
