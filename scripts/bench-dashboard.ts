/**
 * bench:dashboard — server time of the feed and analytics pages with 10,000 conversations in the database.
 * Uses DATABASE_URL when set (PostgreSQL), else the embedded PGlite. Requests go through app.handle, so the
 * figure is the server's own time (routing, auth, SQL, rendering), without network.
 * Last line: {"feed_ms":…, "analytics_ms":…} (p95).
 */
import { ReplyApprovals } from "../src/agents/response/index.ts";
import { loadConfig } from "../src/config.ts";
import { MemoryBus } from "../src/bus/memory.ts";
import { createDashboard } from "../src/dashboard/index.ts";
import { openPglite, openPostgres } from "../src/db/store.ts";
import { buildApp } from "../src/http/app.ts";
import { createLogger } from "../src/obs/log.ts";
import { Metrics } from "../src/obs/metrics.ts";
import { ResultHub } from "../src/realtime/hub.ts";
import { seedHistory } from "./dashboard/seed.ts";

const CONVERSATIONS = 10_000;
const RUNS = 40;
const config = loadConfig();
const log = createLogger("warn");
const store = config.databaseUrl ? await openPostgres(config.databaseUrl) : await openPglite(null);
if (store.kind === "postgres") {
  // A private schema would need its own migrations; instead the bench refuses to run against a database with data.
  const { sql } = await import("drizzle-orm");
  const rows = (await store.db.execute(sql`select count(*)::int as n from conversations`)) as unknown as { n: number }[] | { rows: { n: number }[] };
  const n = Array.isArray(rows) ? rows[0]!.n : rows.rows[0]!.n;
  if (n > 0) {
    console.error(`the database already holds ${n} conversations; point DATABASE_URL at an empty database for the bench`);
    process.exit(2);
  }
}
let t = performance.now();
const written = await seedHistory(store.db, CONVERSATIONS, { days: 30 });
console.log(`seeded ${CONVERSATIONS} conversations / ${written} messages into ${store.kind} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
if (store.kind === "postgres") {
  const { sql } = await import("drizzle-orm");
  await store.db.execute(sql`analyze`);
}

const bus = new MemoryBus();
const hub = new ResultHub(bus, "response-events", "bench", log);
const metrics = new Metrics(false);
const approvals = new ReplyApprovals({ store, bus, responsesTopic: "response-events", log });
const dashboard = createDashboard({ store, hub, settings: config.dashboard, role: "api", log, metrics, approvals });
await dashboard.ready;
const app = buildApp({ log, metrics, checks: [], features: [dashboard.routes] });
await dashboard.accounts.createUser({ email: "bench@example.com", name: "Bench", role: "admin", password: "benchmark passphrase" });
const loginPage = await app.handle(new Request("http://bench/dashboard/login"));
const csrfCookie = loginPage.headers.getSetCookie()[0]!.split(";")[0]!;
const token = (await loginPage.text()).match(/name="_csrf" value="([^"]+)"/)![1]!;
const signed = await app.handle(
  new Request("http://bench/dashboard/login", {
    method: "POST",
    headers: { cookie: csrfCookie, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ _csrf: token, email: "bench@example.com", password: "benchmark passphrase" }),
  }),
);
const cookie = signed.headers.getSetCookie().find((c) => c.includes("copilot_session"))!.split(";")[0]!;

async function measure(path: string): Promise<{ p50: number; p95: number; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < RUNS + 5; i++) {
    const t0 = performance.now();
    const res = await app.handle(new Request(`http://bench${path}`, { headers: { cookie } }));
    const body = await res.text();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
    bytes = body.length;
    if (i >= 5) times.push(ms);
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)]!;
  return { p50: q(0.5), p95: q(0.95), bytes };
}

const pages = {
  feed: "/dashboard",
  feed_filtered: "/dashboard?channel=email&urgency=high&range=30d&q=refund",
  analytics: "/dashboard/analytics?range=7d",
  analytics_30d: "/dashboard/analytics?range=30d",
  conversation: "/dashboard/conversations/email%3Aseed-42",
};
const out: Record<string, { p50: number; p95: number; bytes: number }> = {};
for (const [name, path] of Object.entries(pages)) {
  t = performance.now();
  out[name] = await measure(path);
  console.log(`${name.padEnd(14)} p50 ${out[name].p50.toFixed(1).padStart(7)} ms   p95 ${out[name].p95.toFixed(1).padStart(7)} ms   ${(out[name].bytes / 1024).toFixed(0)} KiB   (${path})`);
}
await store.close();
console.log(
  JSON.stringify({
    feed_ms: Math.round(out.feed!.p95 * 10) / 10,
    analytics_ms: Math.round(Math.max(out.analytics!.p95, out.analytics_30d!.p95) * 10) / 10,
    feed_filtered_ms: Math.round(out.feed_filtered!.p95 * 10) / 10,
    conversation_ms: Math.round(out.conversation!.p95 * 10) / 10,
    conversations: CONVERSATIONS,
    messages: written,
    db: store.kind,
  }),
);
