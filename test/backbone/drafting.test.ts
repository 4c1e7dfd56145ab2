import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { DraftingStage } from "../../src/agents/drafting.ts";
import { MasterAgent } from "../../src/agents/master.ts";
import type { Agent, ResultEvent } from "../../src/agents/types.ts";
import { MemoryBus } from "../../src/bus/memory.ts";
import { results } from "../../src/db/schema.ts";
import { openPglite, type Store } from "../../src/db/store.ts";
import { AppError, err, ok } from "../../src/errors.ts";
import { Metrics } from "../../src/obs/metrics.ts";
import { MemorySessionStore } from "../../src/session/memory.ts";
import { rand, sampleMessage, testLog, waitFor } from "../support/env.ts";

const topics = { messages: "in", responses: "out", dlq: "in.dlq" };

describe("drafting stage (slow workers after the result is published)", () => {
  let store: Store;
  const bus = new MemoryBus(2, 100, 10);
  const sessions = new MemorySessionStore({ ttlSeconds: 600, maxTurns: 10 });
  const events: ResultEvent[] = [];
  let release: () => void = () => {};
  let draftRuns = 0;
  const intent: Agent = { name: "intent", run: async () => ok({ label: "refund_status", confidence: 0.9 }) };
  const reply: Agent = {
    name: "reply",
    run: async (m, c) => {
      draftRuns++;
      if (m.message.text.includes("fail")) return err(new AppError("llm_unavailable", "no generator", { retriable: false }));
      await new Promise<void>((r) => (release = r));
      return ok({ text: `About ${(c.previous.intent as { label: string }).label}`, status: "draft" });
    },
  };
  let stage: DraftingStage;

  beforeAll(async () => {
    store = await openPglite(null);
    await bus.start(Object.values(topics));
    await bus.subscribe({ groupId: "observer", topics: ["out"], handler: async (rs) => void events.push(...rs.map((r) => JSON.parse(r.value))) });
    const master = new MasterAgent({ bus, store, sessions, agents: [intent], metrics: new Metrics(false), log: testLog, groupId: "m", topics, limits: { maxTextChars: 1000, maxAttachments: 2 }, workerTimeoutMs: 1000, workerRetries: 0, concurrency: 4 });
    await master.start();
    stage = new DraftingStage({ bus, store, sessions, agents: [reply], metrics: new Metrics(false), log: testLog, groupId: "drafting", responsesTopic: "out", timeoutMs: 5000, retries: 0 });
    await stage.start();
  });
  afterAll(async () => {
    await bus.stop();
    await store.close();
  });

  const send = async (text: string) => {
    const conversationId = `c-${rand()}`;
    const m = sampleMessage({ message: { text, attachments: [] }, metadata: { received_at: new Date().toISOString(), conversation_id: conversationId } });
    await bus.publish("in", [{ key: conversationId, value: JSON.stringify(m) }]);
    return m.id;
  };

  test("the result is published before the draft, then re-published with it as revision 1", async () => {
    const id = await send("where is my refund?");
    const first = await waitFor(() => events.find((e) => e.message_id === id), 5000, "first result");
    expect(first.outputs.intent).toBeDefined();
    expect(first.outputs.reply).toBeUndefined();
    expect(first.revision).toBeUndefined();
    await waitFor(() => draftRuns >= 1, 5000, "draft started");
    release();
    const second = await waitFor(() => events.find((e) => e.message_id === id && e.revision === 1), 5000, "drafted result");
    expect(second.outputs.reply).toEqual({ text: "About refund_status", status: "draft" });
    expect(second.outputs.intent).toEqual(first.outputs.intent);
    const row = (await store.db.select().from(results).where(eq(results.messageId, id)))[0]!;
    expect((row.outputs as Record<string, unknown>).reply).toEqual({ text: "About refund_status", status: "draft" });
    expect((row.timings as { workers: Record<string, number> }).workers.reply).toBeGreaterThan(0);
  });

  test("a replayed result whose draft is stored is not drafted again", async () => {
    const before = draftRuns;
    const done = events.find((e) => e.revision === 1)!;
    const original = events.find((e) => e.message_id === done.message_id && !e.revision)!;
    await stage.handleBatch([{ topic: "out", partition: 0, offset: "0", timestamp: Date.now(), key: original.conversation_id, value: JSON.stringify(original) }]);
    expect(draftRuns).toBe(before);
  });

  test("a failed draft degrades the stored result with the reason", async () => {
    const id = await send("this one will fail");
    const second = await waitFor(() => events.find((e) => e.message_id === id && e.revision === 1), 5000, "degraded result");
    expect(second.degraded).toBe(true);
    expect(second.failures).toEqual([{ worker: "reply", code: "llm_unavailable", message: "no generator", attempts: 1 }]);
    const row = (await store.db.select().from(results).where(eq(results.messageId, id)))[0]!;
    expect(row.degraded).toBe(1);
    expect((row.failures as { worker: string }[]).map((f) => f.worker)).toEqual(["reply"]);
  });
});
