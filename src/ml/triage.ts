import { prepareQuery } from "../rag/query.ts";
import type { Turn } from "../session/interface.ts";
import type { Embedder } from "./embedder.ts";
import { extractEntities, PII_TYPES, type CatalogueProduct, type Entity } from "./entities.ts";
import type { OnnxHead, Scored } from "./head.ts";

/** `models/triage.json`: the rules a company tunes without retraining. */
export interface TriageConfig {
  /** How many intents to return with their probabilities. */
  top_k: number;
  /** Intents that make a message urgent by themselves (e.g. a stolen card). */
  urgent_intents: string[];
  /** Kept for older triage.json files: an anger score alone no longer makes a message frustrated. */
  anger_threshold?: number;
  /** Anger probability that turns a weak cue ("again", "still") into frustration; strong cues need no anger signal. */
  anger_with_cue_threshold: number;
  /** A plain question without complaint cues stays neutral unless the head's negative probability reaches this. */
  negative_question_threshold: number;
  /** Catalogue file relative to the models folder. */
  catalogue: string;
}

/** Output of the `intent` worker. `label` is "unknown" when the calibrated top-1 probability is below the threshold. */
export interface IntentOutput {
  label: string;
  confidence: number;
  top: Scored[];
  threshold: number;
  model: string;
  /** Version of the intent head that produced this ("base" or a versions/ id, see src/ml/versions.ts). */
  version: string;
}

/** Urgency with every rule that fired. */
export interface Urgency {
  level: "low" | "normal" | "high";
  reasons: string[];
}

/** Output of the `sentiment` worker: class, calibrated probabilities of the 3-class head, the rules applied. */
export interface SentimentOutput {
  label: "positive" | "neutral" | "negative" | "frustrated";
  confidence: number;
  probs: Record<string, number>;
  anger: number | null;
  reasons: string[];
  urgency: Urgency;
  model: string;
  /** Version of the sentiment head that produced this. */
  version: string;
}

/** Output of the `entities` worker: masked values with offsets (see entities.ts). */
export interface EntitiesOutput {
  entities: Entity[];
  counts: Partial<Record<Entity["type"], number>>;
  has_pii: boolean;
}

/** Everything triage computes for one message, from one embedding. */
export interface Analysis {
  intent: IntentOutput;
  sentiment: SentimentOutput;
  entities: EntitiesOutput;
}

/** What the analysis needs to know about the message beyond its text. */
export interface AnalyzeInput {
  id: string;
  text: string;
  receivedAt: string;
  /** Earlier turns of the conversation (session memory). */
  history: Turn[];
}

/** Evidence of frustration in the text; "weak" cues (again/still) count only with an anger signal behind them. */
export const FRUSTRATION_CUES: { re: RegExp; why: string; weak?: boolean }[] = [
  { re: /\b(again|still|yet again|once again|keep(?:s)? (?:happening|failing|getting)|every time)\b/i, why: "repeat-problem wording", weak: true },
  { re: /\b((?:second|third|fourth|fifth|\d+(?:st|nd|rd|th)) time|\d+ times|(?:two|three|four|five|several|many) times)\b/i, why: "repeated attempts" },
  { re: /\b(ridiculous|unacceptable|useless|joke|worst|terrible|awful|disgusting|pathetic|fed up|sick of|furious|outrageous|incompetent|scam|broken|messed up)\b/i, why: "strong complaint words" },
  { re: /!{2,}|\?{2,}|[?!]{3,}/, why: "repeated punctuation" },
  { re: /\b[A-Z]{4,}\b(?:\s+\b[A-Z]{2,}\b){1,}/, why: "shouting (capitals)" },
];
/** A plain question or request: the airline-trained head over-reads these as negative (see docs/models.md). */
export const PLAIN_QUESTION = /^\s*(?:hi|hello|hey|good (?:morning|afternoon|day))?[,.! ]*(?:how|what|when|where|which|who|why|can|could|may|is|are|am|do|does|did|will|would|should|i (?:want|need|would like)|please|tell me)\b|\?\s*$/i;
const DEADLINE = /\b(today|tonight|tomorrow|asap|as soon as possible|urgent(?:ly)?|immediately|right now|deadline|by (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|tonight|\d{1,2}(?:[:.]\d{2})?\s?(?:am|pm))|within (?:the )?(?:hour|day)|before (?:my|the) (?:flight|trip|rent|payment))\b/i;
const EMERGENCY = /\b(emergency|urgent(?:ly)?|fraud|stolen|hacked|scam(?:med)?|someone (?:used|took|stole)|not me|didn'?t (?:make|authori[sz]e))\b/i;

const DAY_MS = 24 * 3600 * 1000;

/**
 * The text the encoder sees for a message: the customer's own words as retrieval searches them (src/rag/query.ts), so
 * the intent, sentiment and anger heads and a self-contained retrieval query share ONE embedding (the embedder's cache
 * is keyed by text). Falls back to the raw text when nothing but pleasantries is left. The lexical features (tf-idf,
 * cues, entities) keep reading the raw text.
 */
export function embeddingText(text: string): string {
  const p = prepareQuery(text);
  return p.empty ? text : p.query;
}

/** The raw text itself: the encoder input before issue 15 (kept for evaluations that compare the two). */
export const rawEmbeddingText = (text: string): string => text;

/** The heads' outputs for one message (before the sentiment rules). */
export interface Classified {
  intent: IntentOutput;
  sentimentProbs: Float32Array;
  sentimentLabels: string[];
  sentimentVersion: string;
  anger: number | null;
}

/** Builds the triage analysis from loaded models; memoises per message id so the three workers share one pass. */
export class TriageModel {
  private memo = new Map<string, Promise<Analysis>>();

  private retired = new Set<OnnxHead>();
  /** Maps a message to the text its embedding is computed from (default: the cleaned words, see embeddingText). */
  embedTextOf: (text: string) => string = embeddingText;
  /** Head versions in service, by task (see src/ml/versions.ts). */
  readonly versions: { intent: string; sentiment: string };

  constructor(
    readonly embedder: Embedder,
    public intentHead: OnnxHead,
    public sentimentHead: OnnxHead,
    readonly angerHead: OnnxHead | null,
    readonly config: TriageConfig,
    readonly catalogue: CatalogueProduct[],
    versions: { intent?: string; sentiment?: string } = {},
  ) {
    this.versions = { intent: versions.intent ?? "base", sentiment: versions.sentiment ?? "base" };
  }

  /**
   * Puts another head in service (a promotion or rollback seen by the watcher). Analyses already started finish on
   * the old head, which is released after a grace period; memoised analyses keep the version they were made with.
   */
  swapHead(task: "intent" | "sentiment", head: OnnxHead, version: string, graceMs = 10_000): void {
    const old = task === "intent" ? this.intentHead : this.sentimentHead;
    if (task === "intent") this.intentHead = head;
    else this.sentimentHead = head;
    this.versions[task] = version;
    this.memo.clear();
    this.retired.add(old);
    const t = setTimeout(() => {
      this.retired.delete(old);
      void old.close().catch(() => undefined);
    }, graceMs);
    t.unref?.();
  }

  /** The analysis of a message, computed once per message id (concurrent workers share the same promise). */
  analyze(input: AnalyzeInput): Promise<Analysis> {
    let p = this.memo.get(input.id);
    if (!p) {
      p = this.compute(input);
      this.memo.set(input.id, p);
      p.catch(() => this.memo.delete(input.id));
      if (this.memo.size > 512) this.memo.delete(this.memo.keys().next().value!);
    }
    return p;
  }

  /** Entities only: no model needed (also used for redaction). */
  entities(text: string, receivedAt?: string): EntitiesOutput {
    const entities = extractEntities(text, { catalogue: this.catalogue, ...(receivedAt ? { now: receivedAt } : {}) });
    const counts: EntitiesOutput["counts"] = {};
    for (const e of entities) counts[e.type] = (counts[e.type] ?? 0) + 1;
    return { entities, counts, has_pii: entities.some((e) => PII_TYPES.includes(e.type)) };
  }

  /** Intent, sentiment and anger over already computed embeddings of `texts`. */
  async classify(vectors: Float32Array[], texts: string[]): Promise<Classified[]> {
    // One consistent pair of heads per call, even if a swap lands while it runs.
    const intentHead = this.intentHead;
    const sentimentHead = this.sentimentHead;
    const intentVersion = this.versions.intent;
    const [ip, sp, ap] = await Promise.all([
      intentHead.probs(vectors, texts),
      sentimentHead.probs(vectors, texts),
      this.angerHead ? this.angerHead.probs(vectors, texts) : Promise.resolve(null),
    ]);
    const angerIdx = this.angerHead?.info.labels.indexOf("anger") ?? -1;
    return vectors.map((_, i) => {
      const top = intentHead.topK(ip[i]!, this.config.top_k).map((s) => ({ label: s.label, score: round(s.score) }));
      const threshold = intentHead.info.unknown_threshold;
      const best = top[0]!;
      return {
        intent: { label: best.score >= threshold ? best.label : "unknown", confidence: best.score, top, threshold, model: this.embedder.id, version: intentVersion },
        sentimentProbs: sp[i]!,
        sentimentLabels: sentimentHead.info.labels,
        sentimentVersion: this.versions.sentiment,
        anger: ap && angerIdx >= 0 ? round(ap[i]![angerIdx]!) : null,
      };
    });
  }

  private pending: { vec: Float32Array; text: string; resolve: (r: Classified) => void; reject: (e: unknown) => void }[] = [];

  /**
   * Messages whose embeddings come back from the same encoder batch are classified in one head run: the heads cost
   * about as much for 16 rows as for 1 (the intent head scores every row against its whole kNN memory).
   */
  private classifyBatched(vec: Float32Array, text: string): Promise<Classified> {
    return new Promise((resolve, reject) => {
      this.pending.push({ vec, text, resolve, reject });
      if (this.pending.length > 1) return;
      setImmediate(() => {
        const batch = this.pending;
        this.pending = [];
        this.classify(
          batch.map((b) => b.vec),
          batch.map((b) => b.text),
        ).then(
          (out) => batch.forEach((b, i) => b.resolve(out[i]!)),
          (e) => batch.forEach((b) => b.reject(e)),
        );
      });
    });
  }

  private async compute(input: AnalyzeInput): Promise<Analysis> {
    // The vector of the cleaned words, the n-grams of the raw text: "!!!" and shouting still count.
    const [vec] = await this.embedder.embed([this.embedTextOf(input.text)], "query");
    const c = await this.classifyBatched(vec!, input.text);
    const entities = this.entities(input.text, input.receivedAt);
    const sentiment = this.sentiment(input, c!.sentimentProbs, c!.anger, c!.intent, entities, c!.sentimentLabels, c!.sentimentVersion);
    return { intent: c!.intent, sentiment, entities };
  }

  /** Sentiment class + urgency from the head's probabilities, cues in the text and the conversation so far. */
  sentiment(
    input: AnalyzeInput,
    probs: Float32Array,
    anger: number | null,
    intent: IntentOutput,
    entities: EntitiesOutput,
    labels = this.sentimentHead.info.labels,
    version = this.versions.sentiment,
  ): SentimentOutput {
    const named = Object.fromEntries(labels.map((l, i) => [l, round(probs[i]!)]));
    let bestIdx = 0;
    probs.forEach((p, i) => (p > probs[bestIdx]! ? (bestIdx = i) : 0));
    let label = labels[bestIdx] as SentimentOutput["label"];
    const confidence = round(probs[bestIdx]!);
    const reasons: string[] = [`classifier: ${label} (p=${confidence.toFixed(2)})`];

    const since = Date.parse(input.receivedAt) - DAY_MS;
    const earlier = input.history.filter((t) => t.role === "customer" && t.message_id !== input.id && Date.parse(t.at) >= since && Date.parse(t.at) <= Date.parse(input.receivedAt));
    const contacts = earlier.length + 1;
    const lastSentiment = earlier.at(-1)?.meta?.sentiment as string | undefined;

    const cues = FRUSTRATION_CUES.filter((c) => c.re.test(input.text));
    const strong = cues.filter((c) => !c.weak);
    // A greeting or sign-off around the question ("Hello team, … Kind regards, Emma") must not hide it: the embedded
    // words are tested too (the same text as the raw one when nothing was cleaned away).
    const plainQuestion = PLAIN_QUESTION.test(input.text) || PLAIN_QUESTION.test(this.embedTextOf(input.text));
    if (label === "negative" && !cues.length && !input.text.includes("!") && plainQuestion && probs[bestIdx]! < this.config.negative_question_threshold) {
      // Support questions about a problem ("Why was my card declined?") read as negative to a head trained on
      // complaint tweets; without complaint evidence they are neutral unless the head is very sure.
      const neutralIdx = labels.indexOf("neutral");
      if (neutralIdx >= 0) {
        label = "neutral";
        reasons.push(`negative → neutral: plain question without complaint cues (p=${confidence.toFixed(2)} < ${this.config.negative_question_threshold})`);
      }
    }
    if (label === "neutral" && strong.length && anger !== null && anger >= this.config.anger_with_cue_threshold) {
      // The head was trained on tweets; a strong complaint cue backed by the anger head overrides its "neutral".
      label = "negative";
      reasons.push(`neutral → negative: ${strong.map((c) => c.why).join("; ")} with anger signal ${anger.toFixed(2)}`);
    }
    if (label === "negative") {
      const why: string[] = [];
      // Frustration needs evidence in the text or in the conversation; an anger score alone never suffices.
      const withAnger = anger !== null && anger >= this.config.anger_with_cue_threshold;
      if (strong.length) why.push(...strong.map((c) => c.why), ...(withAnger ? [`anger signal ${anger!.toFixed(2)}`] : []));
      else if (cues.length && withAnger) why.push(...cues.map((c) => c.why), `anger signal ${anger!.toFixed(2)} ≥ ${this.config.anger_with_cue_threshold}`);
      if (contacts >= 2 && (lastSentiment === "negative" || lastSentiment === "frustrated")) why.push(`previous message in 24 h was also ${lastSentiment}`);
      if (why.length) {
        label = "frustrated";
        reasons.push(`negative → frustrated: ${why.join("; ")}`);
      }
    }

    const urgency = this.urgency(input, label, intent, entities, contacts);
    return { label, confidence, probs: named, anger, reasons, urgency, model: this.embedder.id, version };
  }

  private urgency(input: AnalyzeInput, label: SentimentOutput["label"], intent: IntentOutput, entities: EntitiesOutput, contacts: number): Urgency {
    const high: string[] = [];
    const normal: string[] = [];
    const negative = label === "negative" || label === "frustrated";
    const deadline = DEADLINE.exec(input.text);
    if (this.config.urgent_intents.includes(intent.label)) high.push(`urgent intent: ${intent.label}`);
    const emergency = EMERGENCY.exec(input.text);
    if (emergency) high.push(`emergency wording: "${emergency[0]}"`);
    if (negative && deadline) high.push(`${label} + deadline mentioned ("${deadline[0]}")`);
    if (contacts >= 3) high.push(`${ordinal(contacts)} contact in 24 h`);
    else if (contacts === 2) normal.push("second contact in 24 h");
    if (label === "frustrated") normal.push("customer is frustrated");
    if (!negative && deadline) normal.push(`deadline mentioned ("${deadline[0]}")`);
    if (entities.counts.card_number || entities.counts.iban || entities.counts.account_number) normal.push("message contains account or card details");
    if (high.length) return { level: "high", reasons: [...high, ...normal] };
    if (normal.length || negative) return { level: "normal", reasons: normal.length ? normal : [`${label} sentiment`] };
    return { level: "low", reasons: [`${label}, no urgency cue`] };
  }

  /** Releases the heads (the embedder is shared and closed by its owner). */
  async close(): Promise<void> {
    const retired = [...this.retired];
    this.retired.clear();
    await Promise.all([this.intentHead.close(), this.sentimentHead.close(), this.angerHead?.close(), ...retired.map((h) => h.close().catch(() => undefined))]);
  }
}

function ordinal(n: number): string {
  return n === 3 ? "third" : n === 4 ? "fourth" : n === 5 ? "fifth" : `${n}th`;
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
