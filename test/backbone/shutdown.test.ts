import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../support/env.ts";

const KEY = "shutdown-test-key-0123456789";
/** Generous: the machine running the suite may be heavily loaded, and the bound is what SIGTERM must honour. */
const GRACE_MS = 60_000;

test("SIGTERM with sockets open: sockets close with 1001, the in-flight message is persisted, exit 0 within the grace period", async () => {
  const dir = mkdtempSync(join(tmpdir(), "copilot-shutdown-"));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  // Embedded defaults: no service URLs from the test environment reach the child; no knowledge base to embed at start
  // (on a loaded machine that build competes with the drain for the CPU for a minute).
  const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", APP_ENV: "development", LOG_LEVEL: "warn", HOST: "127.0.0.1", PORT: String(port), API_KEYS: KEY, PGLITE_DIR: join(dir, "db"), RAG_DATA_DIR: join(dir, "index"), LLM_GENERATOR: "none", RAG_KB_DIR: "none", SHUTDOWN_GRACE_MS: String(GRACE_MS) };
  const child = Bun.spawn([process.execPath, "src/main.ts"], { env, stdout: "pipe", stderr: "pipe" });
  try {
    const base = `127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`http://${base}/health`).catch(() => null))?.ok, 150_000, "the product to listen");
    const ws = new WebSocket(`ws://${base}/api/chat/ws?visitor=shutdown-${port}`);
    const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
    const frames: { type: string }[] = [];
    ws.onmessage = (e) => frames.push(JSON.parse(String(e.data)));
    await waitFor(() => frames.some((f) => f.type === "ready"), 15_000, "the socket ready");
    // A first message warms the local models up, so the one below is in flight for a normal time.
    ws.send(JSON.stringify({ type: "message", text: "hello, warming up", client_id: "warm" }));
    await waitFor(() => frames.some((f) => f.type === "result"), 120_000, "the warm-up result");
    const res = await fetch(`http://${base}/api/messages`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` }, body: JSON.stringify({ user: { id: "leaving" }, message: { text: "I was sent right before the deploy" } }) });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const started = Date.now();
    child.kill("SIGTERM");
    const code = await Promise.race([closed, Bun.sleep(GRACE_MS).then(() => -1)]);
    expect(code).toBe(1001);
    const exit = await Promise.race([child.exited, Bun.sleep(GRACE_MS + 2000).then(() => -1)]);
    if (exit !== 0) console.error(await new Response(child.stderr).text(), await new Response(child.stdout).text());
    expect(exit).toBe(0);
    expect(Date.now() - started).toBeLessThan(GRACE_MS);
    // The embedded database was on disk: the message accepted before SIGTERM has its result there.
    const { PGlite } = await import("@electric-sql/pglite");
    const db = new PGlite(join(dir, "db"));
    try {
      const rows = await db.query<{ n: number }>("select count(*)::int as n from results where message_id = $1", [id]);
      expect(rows.rows[0]!.n).toBe(1);
    } finally {
      await db.close();
    }
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}, 360_000);
