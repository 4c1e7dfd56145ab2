/**
 * Seeds realistic support history straight into the tables (conversations, messages, results, reply decisions),
 * for the dashboard benchmark and the screenshots. The pipeline is not involved: this is data at rest, spread over
 * the past `days` days. Deterministic for a given seed.
 */
import { conversations, messages, replyDecisions, results } from "../../src/db/schema.ts";
import type { Db } from "../../src/db/store.ts";

const CHANNELS = [
  ["email", 0.45],
  ["chat", 0.4],
  ["social", 0.15],
] as const;
const INTENTS = [
  ["order_status", 0.22, "Where is my order #{n}? It was supposed to arrive {d}."],
  ["refund_request", 0.16, "I returned the boots two weeks ago and still have no refund for order #{n}."],
  ["account_access", 0.12, "I can't log in, the password reset email never arrives."],
  ["billing_issue", 0.12, "I was charged twice for order #{n}, please fix this."],
  ["product_question", 0.14, "Is the ridge shell jacket waterproof enough for hiking in the rain?"],
  ["shipping_change", 0.08, "Can I change the delivery address for order #{n}?"],
  ["complaint", 0.08, "This is unacceptable, the item arrived broken and nobody answers."],
  ["card_lost", 0.08, "My card was stolen, please block it immediately!"],
] as const;
const NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus", "Radia", "Donald", "Frances", "John", "Katherine", "Tim", "Hedy"];

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T extends readonly [string, number, ...unknown[]]>(r: () => number, list: readonly T[]): T {
  let x = r();
  for (const item of list) {
    x -= item[1];
    if (x <= 0) return item;
  }
  return list[list.length - 1]!;
}

/** Inserts `n` conversations of 1-4 messages each; returns how many messages were written. */
export async function seedHistory(db: Db, n: number, o: { days?: number; seed?: number; batch?: number } = {}): Promise<number> {
  const r = rng(o.seed ?? 7);
  const days = o.days ?? 30;
  const now = Date.now();
  let total = 0;
  let convs: (typeof conversations.$inferInsert)[] = [];
  let msgs: (typeof messages.$inferInsert)[] = [];
  let res: (typeof results.$inferInsert)[] = [];
  let decs: (typeof replyDecisions.$inferInsert)[] = [];
  const flush = async () => {
    if (!convs.length) return;
    await db.transaction(async (tx) => {
      await tx.insert(conversations).values(convs).onConflictDoNothing();
      await tx.insert(messages).values(msgs).onConflictDoNothing();
      await tx.insert(results).values(res).onConflictDoNothing();
      if (decs.length) await tx.insert(replyDecisions).values(decs).onConflictDoNothing();
    });
    convs = [];
    msgs = [];
    res = [];
    decs = [];
  };
  for (let i = 0; i < n; i++) {
    const channel = pick(r, CHANNELS)[0];
    const name = NAMES[Math.floor(r() * NAMES.length)]!;
    const customerId = channel === "email" ? `${name.toLowerCase()}.${i}@example.com` : channel === "social" ? `@${name.toLowerCase()}${i}` : `visitor-seed-${i}`;
    const conversationId = `${channel}:seed-${i}`;
    // Recent days are busier, so the charts show a trend.
    const start = now - Math.pow(r(), 1.6) * days * 86_400_000;
    const count = 1 + Math.floor(r() * r() * 4);
    let at = start;
    for (let k = 0; k < count; k++) {
      at += k === 0 ? 0 : (5 + r() * 600) * 60_000;
      if (at > now) at = now - r() * 60_000;
      const [intent, , template] = pick(r, INTENTS);
      const text = template.replace("{n}", String(10_000 + Math.floor(r() * 90_000))).replace("{d}", "last Tuesday");
      const negative = intent === "complaint" || intent === "card_lost" || (intent === "refund_request" && r() < 0.5);
      const sentiment = negative ? (r() < 0.5 ? "frustrated" : "negative") : r() < 0.2 ? "positive" : "neutral";
      const urgency = intent === "card_lost" ? "critical" : negative && r() < 0.4 ? "high" : r() < 0.3 ? "medium" : "low";
      const conf = 0.55 + r() * 0.44;
      const id = crypto.randomUUID();
      const received = new Date(at);
      const processed = new Date(at + 200 + r() * 1500);
      const w = { intent: 8 + r() * 20, sentiment: 7 + r() * 15, entities: 2 + r() * 6, knowledge: 20 + r() * 60, response: 300 + r() * 1800 };
      const draft = `Hi ${name}, thanks for getting in touch. ${intent === "order_status" ? "Your parcel is on its way and should arrive within two working days." : "We have looked into this and will sort it out today."}`;
      msgs.push({ id, conversationId, source: channel, customerId, customerName: name, customerEmail: channel === "email" ? customerId : null, text, receivedAt: received, createdAt: processed });
      res.push({
        messageId: id,
        conversationId,
        channel,
        intent,
        intentConfidence: conf,
        sentiment,
        urgency,
        outputs: {
          intent: { label: intent, confidence: conf, top: [{ label: intent, score: conf }, { label: "other", score: (1 - conf) * 0.7 }, { label: "general_question", score: (1 - conf) * 0.3 }] },
          sentiment: { label: sentiment, urgency: { level: urgency, reasons: urgency === "critical" ? ["card reported stolen"] : [] } },
          reply: { text: draft, status: "draft" },
        },
        degraded: 0,
        totalMs: Object.values(w).reduce((a, b) => a + b, 0),
        timings: { total_ms: w.response + w.knowledge, workers: w },
        createdAt: processed,
        publishedAt: processed,
      });
      if (r() < 0.7) {
        const action = r() < 0.72 ? "approved" : r() < 0.6 ? "edited" : "rejected";
        decs.push({ messageId: id, conversationId, action, draftText: draft, finalText: action === "rejected" ? null : draft, reason: action === "rejected" ? "policy not cited" : null, createdAt: new Date(Math.min(now, processed.getTime() + (1 + r() * 40) * 60_000)) });
      }
      total++;
    }
    convs.push({ id: conversationId, channel, customerId, customerName: name, messageCount: count, createdAt: new Date(start), lastMessageAt: new Date(at) });
    if (convs.length >= (o.batch ?? 500)) await flush();
  }
  await flush();
  return total;
}
