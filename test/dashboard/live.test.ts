import { expect, test } from "bun:test";
import type { ResultEvent } from "../../src/agents/types.ts";
import { parseFilters } from "../../src/dashboard/filters.ts";
import { decisionOf, LiveDashboards } from "../../src/dashboard/live.ts";
import { createLogger } from "../../src/obs/log.ts";

const base: ResultEvent = {
  type: "message.result",
  message_id: "01a21500-0000-7000-8000-000000000001",
  conversation_id: "chat:live-test-1",
  source: "chat",
  user: { id: "live-test-1" },
  text: "hello",
  received_at: new Date().toISOString(),
  processed_at: new Date().toISOString(),
  outputs: { reply: { text: "hi", status: "draft" } },
  failures: [],
  degraded: false,
  timings: { total_ms: 1, workers: {} },
};

function harness() {
  const live = new LiveDashboards(createLogger("silent"));
  const feed: string[] = [];
  const conv: string[] = [];
  live.add({ user: { id: "u", email: "u@x", name: "U", role: "agent" }, feed: parseFilters({}), conversationId: null, send: (h) => feed.push(h) });
  live.add({ user: { id: "u", email: "u@x", name: "U", role: "agent" }, feed: null, conversationId: base.conversation_id, send: (h) => conv.push(h) });
  return { live, feed, conv };
}

test("a fresh result is prepended to feeds; a decision from the approval flow (outputs.reply.review) replaces the row", () => {
  const { live, feed } = harness();
  live.onEvent(base);
  expect(feed[0]).toContain('hx-swap-oob="afterbegin:#feed"');
  const reviewed = { ...base, outputs: { reply: { text: "hi", status: "approved", review: { action: "approved", by: "ada@example.com", at: new Date().toISOString() } } } };
  expect(decisionOf(reviewed)?.action).toBe("approved");
  live.onEvent(reviewed);
  expect(feed[1]).toContain(`hx-swap-oob="outerHTML:#msg-${base.message_id}"`);
  expect(feed[1]).toContain(">approved<");
  expect(decisionOf(base)).toBeNull();
});

test("draft tokens from the response agent's stream go into their conversation only, escaped", () => {
  const { live, conv, feed } = harness();
  live.onEvent({ type: "reply.delta", conversation_id: base.conversation_id, message_id: base.message_id, seq: 0, text: "Hello <i>" });
  live.onEvent({ type: "reply.delta", conversation_id: base.conversation_id, message_id: base.message_id, seq: 1, text: "there" });
  live.onEvent({ type: "reply.delta", conversation_id: "chat:someone-else", message_id: base.message_id, seq: 0, text: "not yours" });
  expect(conv).toHaveLength(2);
  expect(conv[0]).toContain("Hello &lt;i&gt;");
  expect(conv[1]).toContain(`beforeend:#draft-text-${base.message_id}`);
  expect(feed).toHaveLength(0);
});
