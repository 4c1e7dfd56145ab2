import { sql } from "drizzle-orm";
import Redis from "ioredis";
import type { Store } from "../../src/db/store.ts";

const rowsOf = <T>(r: unknown): T[] => (Array.isArray(r) ? (r as T[]) : ((r as { rows?: T[] }).rows ?? []));

/** Every row of every table in the public schema, as text (what a database dump would show). */
export async function dumpDatabase(store: Store): Promise<string> {
  const tables = rowsOf<{ t: string }>(await store.db.execute(sql`select tablename as t from pg_tables where schemaname = 'public' order by 1`));
  const parts: string[] = [];
  for (const { t } of tables) {
    const rows = rowsOf<{ r: string }>(await store.db.execute(sql`select x::text as r from ${sql.identifier(t)} x`));
    parts.push(`## ${t}\n${rows.map((r) => r.r).join("\n")}`);
  }
  return parts.join("\n");
}

/** Every key of the Redis server with its value(s), as text. */
export async function dumpRedis(url: string): Promise<string> {
  const r = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
  try {
    const out: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "COUNT", 1000);
      cursor = next;
      for (const k of keys) {
        const type = await r.type(k);
        let v: unknown = null;
        if (type === "string") v = await r.get(k);
        else if (type === "list") v = await r.lrange(k, 0, -1);
        else if (type === "hash") v = await r.hgetall(k);
        else if (type === "set") v = await r.smembers(k);
        else if (type === "zset") v = await r.zrange(k, "0", "-1");
        else if (type === "stream") v = await r.call("XRANGE", k, "-", "+");
        out.push(`${k}\t${JSON.stringify(v)}`);
      }
    } while (cursor !== "0");
    return out.join("\n");
  } finally {
    r.disconnect();
  }
}
