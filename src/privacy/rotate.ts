import { sql, type SQL } from "drizzle-orm";
import type { Db } from "../db/store.ts";
import { SEALED_PREFIX } from "./cipher.ts";
import { cipherOf, FIELDS, sealMetadata } from "./fields.ts";
import { rowsOf } from "../db/rows.ts";

/** Encrypted columns per table, with the key column the batches walk in order. */
const TARGETS: { table: string; key: string; cols: Record<string, string>; meta?: boolean }[] = [
  { table: "messages", key: "id", cols: { text: FIELDS.messageText, customer_name: FIELDS.messageName, customer_email: FIELDS.messageEmail }, meta: true },
  { table: "conversations", key: "id", cols: { customer_name: FIELDS.conversationName } },
  { table: "label_corrections", key: "id", cols: { text: FIELDS.correctionText } },
];


/** Progress of a rotation per table: rows re-sealed, and rows no configured key opens (left as they are). */
export type RotationReport = Record<string, { resealed: number; failed: number }>;

/**
 * Re-seals every encrypted field that is plain (written before encryption) or sealed under a key other than the
 * active one, in batches ordered by primary key. It only touches stale rows, so an interrupted run is resumed by
 * running it again. Rows whose address has no blind index yet get one.
 */
export async function rotateKeys(db: Db, o: { batch?: number; onBatch?: (table: string, n: number) => void } = {}): Promise<RotationReport> {
  const cipher = cipherOf(db);
  const batch = o.batch ?? 500;
  const fresh = `${SEALED_PREFIX}${cipher.activeKid}:%`;
  const report: RotationReport = {};
  for (const t of TARGETS) {
    const tally = { resealed: 0, failed: 0 };
    report[t.table] = tally;
    const stale: SQL[] = Object.keys(t.cols).map((c) => sql`(${sql.identifier(c)} is not null and ${sql.identifier(c)} not like ${fresh})`);
    if (t.meta) {
      for (const k of ["quoted", "signature"]) stale.push(sql`(metadata ? ${k} and jsonb_typeof(metadata->${k}) = 'string' and metadata->>${k} not like ${fresh})`);
      stale.push(sql`(customer_email is not null and customer_email_index is null)`);
    }
    const cols = [t.key, ...Object.keys(t.cols), ...(t.meta ? ["metadata", "customer_email_index"] : [])];
    let after: string | null = null;
    for (;;) {
      const cursor: SQL = after === null ? sql`true` : sql`${sql.identifier(t.key)}::text > ${after}`;
      const rows = rowsOf<Record<string, unknown>>(
        await db.execute(
          sql`select ${sql.join(cols.map((c) => sql.identifier(c)), sql`, `)} from ${sql.identifier(t.table)}
              where ${cursor} and (${sql.join(stale, sql` or `)}) order by ${sql.identifier(t.key)}::text limit ${batch}`,
        ),
      );
      if (rows.length === 0) break;
      let resealed = 0;
      await db.transaction(async (tx) => {
        for (const r of rows) {
          const sets: SQL[] = [];
          try {
            for (const [c, field] of Object.entries(t.cols)) {
              const v = r[c] as string | null;
              if (v !== null && cipher.stale(v)) sets.push(sql`${sql.identifier(c)} = ${cipher.seal(cipher.open(v, field), field)}`);
            }
            if (t.meta) {
              const meta = (typeof r.metadata === "string" ? JSON.parse(r.metadata) : r.metadata) as Record<string, unknown>;
              const opened = sealMetadata(cipher, meta, "open");
              sets.push(sql`metadata = ${JSON.stringify(sealMetadata(cipher, opened, "seal"))}::jsonb`);
              const email = r.customer_email as string | null;
              if (email !== null && r.customer_email_index === null) sets.push(sql`customer_email_index = ${cipher.blindIndex(cipher.open(email, FIELDS.messageEmail), "email")}`);
            }
          } catch {
            // Sealed under a key the file no longer lists: it stays as it is and is reported.
            tally.failed++;
            continue;
          }
          if (sets.length) await tx.execute(sql`update ${sql.identifier(t.table)} set ${sql.join(sets, sql`, `)} where ${sql.identifier(t.key)}::text = ${String(r[t.key])}`);
          resealed++;
        }
      });
      tally.resealed += resealed;
      o.onBatch?.(t.table, resealed);
      after = String(rows[rows.length - 1]![t.key]);
      if (rows.length < batch) break;
    }
  }
  return report;
}
