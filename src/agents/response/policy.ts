/** The configured auto-send rule; anything it does not allow stays a draft for a human. */
export interface AutoSendPolicy {
  enabled: boolean;
  /** Intents whose replies may go out without review. */
  intents: string[];
  /** Minimum intent confidence. */
  minConfidence: number;
  /** Sentiment labels that always need a human (negative, frustrated, angry...). */
  blockedSentiments: string[];
  /** Urgency levels that always need a human. */
  blockedUrgencies: string[];
  /** Channels where an automatic reply is acceptable (chat by default; email goes through approval). */
  channels: string[];
}

/** Draft-only unless configured otherwise. */
export const DEFAULT_POLICY: AutoSendPolicy = {
  enabled: false,
  intents: [],
  minConfidence: 0.85,
  blockedSentiments: ["negative", "very_negative", "frustrated", "angry"],
  blockedUrgencies: ["high", "critical", "urgent"],
  channels: ["chat"],
};

/** Everything the rule looks at, known before or right after generation. */
export interface PolicyInput {
  channel: string;
  intent: string | null;
  confidence: number | null;
  sentiment: string | null;
  urgency: string | null;
  abstained: boolean;
  /** The reply came from a model (not the extractive fallback or a fixed follow-up). */
  generated: boolean;
  citations: number;
  finish: string | null;
  injectionSuspected: boolean;
}

/** A recorded decision: the status plus the reason, and every check with its outcome. */
export interface PolicyDecision {
  status: "auto_sent" | "draft";
  reason: string;
  checks: { name: string; ok: boolean; detail: string }[];
}

/** Applies the rule: auto-send only when every check passes; the first failing check is the reason. */
export function decide(p: AutoSendPolicy, i: PolicyInput): PolicyDecision {
  const checks: PolicyDecision["checks"] = [
    { name: "enabled", ok: p.enabled, detail: p.enabled ? "auto-send is on" : "auto-send is off (draft-only)" },
    { name: "channel", ok: p.channels.includes(i.channel), detail: `channel ${i.channel}` },
    { name: "intent", ok: i.intent !== null && p.intents.includes(i.intent), detail: `intent ${i.intent ?? "unknown"}` },
    { name: "confidence", ok: i.confidence !== null && i.confidence >= p.minConfidence, detail: `confidence ${i.confidence ?? "unknown"} (min ${p.minConfidence})` },
    { name: "sentiment", ok: i.sentiment !== null && !p.blockedSentiments.includes(i.sentiment), detail: `sentiment ${i.sentiment ?? "unknown"}` },
    { name: "urgency", ok: i.urgency === null || !p.blockedUrgencies.includes(i.urgency), detail: `urgency ${i.urgency ?? "none"}` },
    { name: "retrieval", ok: !i.abstained, detail: i.abstained ? "knowledge abstained" : "grounded in retrieved passages" },
    { name: "generated", ok: i.generated, detail: i.generated ? "model reply" : "fallback text" },
    { name: "citations", ok: i.citations > 0, detail: `${i.citations} valid citation(s)` },
    { name: "complete", ok: i.finish === "stop", detail: `finish ${i.finish ?? "none"}` },
    { name: "injection", ok: !i.injectionSuspected, detail: i.injectionSuspected ? "message tries to instruct the assistant" : "no instruction-like text" },
  ];
  const failed = checks.find((c) => !c.ok);
  return failed ? { status: "draft", reason: `needs review: ${failed.detail}`, checks } : { status: "auto_sent", reason: "every auto-send check passed", checks };
}

const INJECTION = [
  /\b(ignore|disregard|forget)\b.{0,40}\b(previous|prior|above|earlier|all|your)\b.{0,20}\b(instructions?|rules|prompts?|messages?)\b/i,
  /\b(system prompt|developer message|you are now|act as|pretend to be|jailbreak|DAN mode)\b/i,
  /<\/?\s*(system|assistant|customer_message|passages?)\b/i,
  /\b(ignora|olvida)\b.{0,40}\binstrucciones\b|\bignore[sz]?\b.{0,40}\binstructions?\b|\bignoriere\b.{0,40}\banweisungen\b/i,
];

/** True when a message reads like an attempt to instruct the model; such replies always go to a human. */
export function looksLikeInjection(text: string): boolean {
  return INJECTION.some((r) => r.test(text));
}
