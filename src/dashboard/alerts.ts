import { createHmac } from "node:crypto";
import { and, asc, count, eq, gte, inArray, isNull, lt, sql } from "drizzle-orm";
import type { ResultEvent } from "../schema/events.ts";
import type { Db } from "../db/store.ts";
import { alertRules, alerts, results } from "../db/schema.ts";
import { Value } from "@sinclair/typebox/value";
import { t } from "elysia";
import { AppError } from "../errors.ts";
import type { Logger } from "../obs/log.ts";
import { extractEntities, redact } from "../ml/entities.ts";
import { intentOf, sentimentOf } from "./outputs.ts";
import type { AbuseGuard } from "../ratelimit/guard.ts";

/** Kinds of alert rule: four per-message conditions and two volume spikes against a recent baseline. */
export const RULE_KINDS = ["urgency", "sentiment", "vip", "keyword", "spike_negative", "spike_intent"] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

/** Parameters of a rule; which fields matter depends on the kind. */
export interface RuleParams {
  /** urgency: levels that fire (default high, critical). */
  levels?: string[];
  /** sentiment / spike_negative: labels that count (default negative, frustrated, angry). */
  labels?: string[];
  /** vip: customer ids or names. */
  customers?: string[];
  /** keyword: case-insensitive words or phrases. */
  keywords?: string[];
  /** spike_intent: the intent watched. */
  intent?: string;
  /** spikes: window length, ratio over the 24 h baseline, and the minimum count in the window. */
  windowMinutes?: number;
  factor?: number;
  minCount?: number;
}

const strings = t.Optional(t.Array(t.String()));
/** The stored shape of RuleParams: rules are read back from the database through it, not cast. */
const RuleParamsSchema = t.Object({ levels: strings, labels: strings, customers: strings, keywords: strings, intent: t.Optional(t.String()), windowMinutes: t.Optional(t.Number()), factor: t.Optional(t.Number()), minCount: t.Optional(t.Number()) });
const isRuleKind = (k: string): k is RuleKind => (RULE_KINDS as readonly string[]).includes(k);

/** A rule as stored. */
export interface Rule {
  id: number;
  name: string;
  kind: RuleKind;
  params: RuleParams;
  webhook: boolean;
  enabled: boolean;
}

/** A fired alert, as pushed to dashboards and webhooks. */
export interface FiredAlert {
  id: number;
  ruleId: number;
  /** The firing rule's kind (a RuleKind when written by this version). */
  kind: string;
  title: string;
  detail: string;
  messageId: string | null;
  conversationId: string | null;
  createdAt: Date;
  acknowledgedBy: string | null;
  acknowledgedAt: Date | null;
}

/** Options of the alert engine. */
export interface AlertEngineOptions {
  db: Db;
  log: Logger;
  webhookUrl: string | null;
  webhookSecret: string | null;
  /** Called for every alert fired or re-observed by this process (toasts on this replica's dashboards). */
  onFired: (a: FiredAlert) => void;
  /** Minimum interval between two spike checks of one rule; 0 checks on every matching event. */
  spikeCheckMs?: number;
  fetch?: typeof fetch;
  /** Caps webhook calls (alert_webhook, shared by replicas): a flood of alerts cannot flood the receiver. */
  guard?: AbuseGuard;
}

const DEFAULT_NEGATIVE = ["negative", "frustrated", "angry"];

/** Rules created on first start so a new install alerts on urgent and frustrated customers out of the box. */
export const DEFAULT_RULES: Omit<Rule, "id">[] = [
  { name: "Urgent ticket", kind: "urgency", params: { levels: ["high", "critical"] }, webhook: true, enabled: true },
  { name: "Frustrated customer", kind: "sentiment", params: { labels: ["frustrated", "angry"] }, webhook: false, enabled: true },
  { name: "Negative sentiment spike", kind: "spike_negative", params: { windowMinutes: 15, factor: 3, minCount: 5 }, webhook: true, enabled: true },
];

/** Validates rule input from the admin form. */
export function parseRule(input: { name?: unknown; kind?: unknown; values?: unknown; intent?: unknown; windowMinutes?: unknown; factor?: unknown; minCount?: unknown; webhook?: unknown }): Omit<Rule, "id"> {
  const kind = String(input.kind ?? "");
  if (!(RULE_KINDS as readonly string[]).includes(kind)) throw new AppError("invalid_rule", `kind must be one of ${RULE_KINDS.join(", ")}`, { status: 422 });
  const name = String(input.name ?? "").trim().slice(0, 120);
  if (!name) throw new AppError("invalid_rule", "name is required", { status: 422 });
  const list = String(input.values ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .slice(0, 100);
  const n = (v: unknown, def: number, min: number, max: number) => {
    const x = Number(v);
    return v === undefined || v === "" || !Number.isFinite(x) ? def : Math.min(max, Math.max(min, x));
  };
  const params: RuleParams = {};
  if (kind === "urgency") params.levels = list.length ? list : ["high", "critical"];
  if (kind === "sentiment" || kind === "spike_negative") params.labels = list.length ? list : DEFAULT_NEGATIVE;
  if (kind === "vip" || kind === "keyword") {
    if (!list.length) throw new AppError("invalid_rule", `${kind} rules need at least one value`, { status: 422 });
    if (kind === "vip") params.customers = list;
    else params.keywords = list.map((k) => k.toLowerCase());
  }
  if (kind === "spike_intent") {
    const intent = String(input.intent ?? list[0] ?? "").trim();
    if (!intent) throw new AppError("invalid_rule", "spike_intent rules need an intent", { status: 422 });
    params.intent = intent;
  }
  if (kind.startsWith("spike")) {
    params.windowMinutes = n(input.windowMinutes, 15, 1, 24 * 60);
    params.factor = n(input.factor, 3, 1, 1000);
    params.minCount = n(input.minCount, 5, 1, 1_000_000);
  }
  return { name, kind: kind as RuleKind, params, webhook: input.webhook === "on" || input.webhook === true, enabled: true };
}

/**
 * Evaluates alert rules against every result event. Firing is idempotent through a dedupe key per rule and message
 * (or per rule and time window for spikes), so replicas and redeliveries insert one alert; the replica that inserts
 * it calls the webhook, and every replica toasts its own dashboards.
 */
export class AlertEngine {
  private cache: Rule[] | null = null;
  private readonly lastSpikeCheck = new Map<number, number>();
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly o: AlertEngineOptions) {}

  /** Seeds the default rules when none exist. */
  async ensureDefaults(): Promise<void> {
    // Replicas starting together serialise on an advisory lock so the defaults are inserted once.
    await this.o.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(727072)`);
      const [row] = await tx.select({ n: count() }).from(alertRules);
      if (Number(row?.n ?? 0) > 0) return;
      await tx.insert(alertRules).values(DEFAULT_RULES.map((r) => ({ ...r, webhook: r.webhook ? 1 : 0, enabled: r.enabled ? 1 : 0 })));
    });
    this.cache = null;
  }

  /** Every rule, enabled or not. */
  async rules(): Promise<Rule[]> {
    if (this.cache) return this.cache;
    const rows = await this.o.db.select().from(alertRules).orderBy(asc(alertRules.id));
    // A row this version cannot read (unknown kind, params of another shape) is left out rather than misread.
    this.cache = rows.flatMap((r) => {
      const kind = r.kind;
      const params: unknown = r.params;
      if (!isRuleKind(kind) || !Value.Check(RuleParamsSchema, params)) {
        this.o.log.warn({ component: "alerts", rule: r.id }, "alert rule with an unknown kind or malformed params skipped");
        return [];
      }
      return [{ id: r.id, name: r.name, kind, params, webhook: r.webhook === 1, enabled: r.enabled === 1 }];
    });
    return this.cache;
  }

  async createRule(r: Omit<Rule, "id">): Promise<number> {
    const [row] = await this.o.db.insert(alertRules).values({ ...r, webhook: r.webhook ? 1 : 0, enabled: r.enabled ? 1 : 0 }).returning({ id: alertRules.id });
    this.cache = null;
    return row!.id;
  }

  async setEnabled(id: number, enabled: boolean): Promise<void> {
    await this.o.db.update(alertRules).set({ enabled: enabled ? 1 : 0 }).where(eq(alertRules.id, id));
    this.cache = null;
  }

  async deleteRule(id: number): Promise<void> {
    await this.o.db.delete(alertRules).where(eq(alertRules.id, id));
    this.cache = null;
  }

  /** Records who acknowledged an alert; false when it does not exist or was already acknowledged. */
  async acknowledge(id: number, userId: string): Promise<FiredAlert | null> {
    const rows = await this.o.db
      .update(alerts)
      .set({ acknowledgedBy: userId, acknowledgedAt: new Date() })
      .where(and(eq(alerts.id, id), isNull(alerts.acknowledgedAt)))
      .returning();
    return rows[0] ? toFired(rows[0]) : null;
  }

  /** Evaluates every enabled rule against one result; returns the alerts it fired (or found already fired). */
  async evaluate(ev: ResultEvent): Promise<FiredAlert[]> {
    const rules = (await this.rules()).filter((r) => r.enabled);
    const fired: FiredAlert[] = [];
    for (const rule of rules) {
      const hit = rule.kind.startsWith("spike") ? await this.spike(rule, ev) : perMessage(rule, ev);
      if (!hit) continue;
      const a = await this.fire(rule, hit);
      if (a) fired.push(a);
    }
    return fired;
  }

  /** Resolves when every webhook call started so far has finished (tests and shutdown). */
  async settle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  private async spike(rule: Rule, ev: ResultEvent): Promise<Hit | null> {
    const p = rule.params;
    const sentiment = sentimentOf(ev.outputs)?.label ?? null;
    const intent = intentOf(ev.outputs)?.label ?? null;
    const labels = p.labels ?? DEFAULT_NEGATIVE;
    if (rule.kind === "spike_negative" && !(sentiment && labels.includes(sentiment))) return null;
    if (rule.kind === "spike_intent" && intent !== p.intent) return null;
    const now = Date.now();
    const every = this.o.spikeCheckMs ?? 10_000;
    if (now - (this.lastSpikeCheck.get(rule.id) ?? 0) < every) return null;
    this.lastSpikeCheck.set(rule.id, now);
    const windowMs = (p.windowMinutes ?? 15) * 60_000;
    const cond = rule.kind === "spike_negative" ? inArray(results.sentiment, labels) : eq(results.intent, p.intent!);
    const windowStart = new Date(now - windowMs);
    const [row] = await this.o.db
      .select({
        recent: sql<number>`count(*) filter (where ${results.createdAt} >= ${windowStart.toISOString()}::timestamptz)::int`,
        before: sql<number>`count(*) filter (where ${results.createdAt} < ${windowStart.toISOString()}::timestamptz)::int`,
      })
      .from(results)
      .where(and(cond, gte(results.createdAt, new Date(now - windowMs - 86_400_000)), lt(results.createdAt, new Date(now + 60_000))));
    const recent = Number(row?.recent ?? 0);
    const baseline = Number(row?.before ?? 0) / (86_400_000 / windowMs);
    if (recent < (p.minCount ?? 5) || recent < (p.factor ?? 3) * baseline) return null;
    const what = rule.kind === "spike_negative" ? "negative-sentiment messages" : `"${p.intent}" messages`;
    return {
      key: `r${rule.id}:w${Math.floor(now / windowMs)}`,
      title: `${rule.name}: ${recent} ${what} in ${p.windowMinutes ?? 15} min`,
      detail: `baseline ${baseline.toFixed(2)} per ${p.windowMinutes ?? 15} min over the previous 24 h (threshold ×${p.factor ?? 3}, at least ${p.minCount ?? 5})`,
      messageId: null,
      conversationId: null,
    };
  }

  private async fire(rule: Rule, hit: Hit): Promise<FiredAlert | null> {
    const inserted = await this.o.db
      .insert(alerts)
      .values({ ruleId: rule.id, dedupeKey: hit.key, kind: rule.kind, title: hit.title, detail: hit.detail, messageId: hit.messageId, conversationId: hit.conversationId })
      .onConflictDoNothing()
      .returning();
    if (inserted[0]) {
      const a = toFired(inserted[0]);
      this.o.log.info({ component: "alerts", rule: rule.id, alert: a.id }, "alert fired");
      if (rule.webhook && this.o.webhookUrl) this.track(this.deliver(a, hit.subject));
      this.o.onFired(a);
      return a;
    }
    const [existing] = await this.o.db.select().from(alerts).where(eq(alerts.dedupeKey, hit.key)).limit(1);
    if (!existing) return null;
    const a = toFired(existing);
    this.o.onFired(a);
    return a;
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** POSTs the alert to the webhook with an HMAC signature; retries transient failures, records the outcome. */
  private async deliver(a: FiredAlert, subject?: string): Promise<void> {
    // Over the limit the alert is still stored and toasted; only the outbound call is skipped (and recorded as such).
    if (await this.o.guard?.refusal(["alert_webhook", this.o.webhookUrl!])) {
      this.o.log.warn({ component: "alerts", alert: a.id }, "alert webhook skipped: rate limit");
      await this.o.db.update(alerts).set({ webhookStatus: "rate_limited" }).where(eq(alerts.id, a.id)).catch(() => {});
      return;
    }
    // The webhook leaves the network: the customer's name or address and any PII in the excerpt are replaced.
    const out = { ...a, title: redactForWebhook(a.title, subject), detail: redactForWebhook(a.detail, subject), createdAt: a.createdAt.toISOString() };
    const body = JSON.stringify({ type: "alert.fired", alert: out });
    const headers: Record<string, string> = { "content-type": "application/json", "user-agent": "support-copilot-alerts" };
    if (this.o.webhookSecret) headers["x-copilot-signature"] = `sha256=${createHmac("sha256", this.o.webhookSecret).update(body).digest("hex")}`;
    const f = this.o.fetch ?? fetch;
    let status = "failed";
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const res = await f(this.o.webhookUrl!, { method: "POST", headers, body, signal: AbortSignal.timeout(5000) });
        if (res.ok) {
          status = "sent";
          break;
        }
        status = `failed: HTTP ${res.status}`;
        if (res.status < 500 && res.status !== 429) break;
      } catch (e) {
        status = `failed: ${(e as Error).message.slice(0, 200)}`;
      }
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
    if (status !== "sent") this.o.log.warn({ component: "alerts", alert: a.id, status }, "alert webhook failed");
    await this.o.db.update(alerts).set({ webhookStatus: status }).where(eq(alerts.id, a.id)).catch(() => {});
  }
}

interface Hit {
  key: string;
  /** Who the alert is about (name or id), so the webhook copy can leave it out; never stored separately. */
  subject?: string;
  title: string;
  detail: string;
  messageId: string | null;
  conversationId: string | null;
}

function toFired(r: typeof alerts.$inferSelect): FiredAlert {
  return {
    id: r.id,
    ruleId: r.ruleId,
    kind: r.kind,
    title: r.title,
    detail: r.detail,
    messageId: r.messageId,
    conversationId: r.conversationId,
    createdAt: r.createdAt,
    acknowledgedBy: r.acknowledgedBy,
    acknowledgedAt: r.acknowledgedAt,
  };
}

function perMessage(rule: Rule, ev: ResultEvent): Hit | null {
  const p = rule.params;
  const s = sentimentOf(ev.outputs);
  const who = ev.user.name ?? ev.user.id;
  const base = { key: `r${rule.id}:m${ev.message_id}`, subject: who, messageId: ev.message_id, conversationId: ev.conversation_id };
  // Stored and pushed excerpts carry placeholders for cards, IBANs, accounts, emails and phones.
  const clean = redact(ev.text, extractEntities(ev.text)).text;
  const excerpt = clean.length > 140 ? `${clean.slice(0, 140)}…` : clean;
  switch (rule.kind) {
    case "urgency":
      if (s?.urgency && (p.levels ?? ["high", "critical"]).includes(s.urgency)) return { ...base, title: `${rule.name}: ${s.urgency} urgency from ${who}`, detail: [excerpt, ...s.reasons].join(" — ") };
      return null;
    case "sentiment":
      if (s?.label && (p.labels ?? DEFAULT_NEGATIVE).includes(s.label)) return { ...base, title: `${rule.name}: ${s.label} customer ${who}`, detail: excerpt };
      return null;
    case "vip": {
      const ids = (p.customers ?? []).map((c) => c.toLowerCase());
      if (ids.includes(ev.user.id.toLowerCase()) || (ev.user.name && ids.includes(ev.user.name.toLowerCase()))) return { ...base, title: `${rule.name}: VIP ${who} wrote`, detail: excerpt };
      return null;
    }
    case "keyword": {
      const text = ev.text.toLowerCase();
      const k = (p.keywords ?? []).find((w) => text.includes(w));
      if (k) return { ...base, title: `${rule.name}: "${k}" from ${who}`, detail: excerpt };
      return null;
    }
    default:
      return null;
  }
}

/** Text of an alert as sent to the external webhook: the customer's name/id becomes "a customer", then PII placeholders. */
export function redactForWebhook(text: string, subject?: string): string {
  let t = text;
  if (subject && subject.trim().length >= 2) t = t.split(subject).join("a customer");
  return redact(t, extractEntities(t)).text;
}
