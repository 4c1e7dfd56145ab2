/**
 * Lenient readers of worker outputs. Workers evolve independently, so the dashboard renders whatever is present
 * and treats anything missing or oddly shaped as absent instead of failing the page.
 */

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : null);
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** Intent with its top alternatives. */
export interface IntentView {
  label: string;
  confidence: number | null;
  top: { label: string; score: number }[];
}

/** Sentiment and urgency with the reasons the worker gave. */
export interface SentimentView {
  label: string | null;
  score: number | null;
  urgency: string | null;
  reasons: string[];
}

/** One extracted entity. */
export interface EntityView {
  type: string;
  value: string;
}

/** One retrieved knowledge passage. */
export interface PassageView {
  id: string;
  source: string | null;
  title: string | null;
  score: number | null;
  text: string;
}

/** The drafted (or sent) reply. */
export interface ReplyView {
  text: string;
  status: string | null;
  citations: string[];
  note: string | null;
}

/** Reads outputs.intent. */
export function intentOf(outputs: Obj): IntentView | null {
  const o = obj(outputs.intent);
  const label = str(o?.label);
  if (!o || !label) return null;
  const top = Array.isArray(o.top)
    ? o.top.flatMap((t) => {
        const x = obj(t);
        const l = str(x?.label);
        const s = num(x?.score ?? x?.confidence);
        return l && s !== null ? [{ label: l, score: s }] : [];
      })
    : [];
  return { label, confidence: num(o.confidence) ?? top[0]?.score ?? null, top: top.slice(0, 3) };
}

/** Reads outputs.sentiment (urgency may be a string or {level, reasons}). */
export function sentimentOf(outputs: Obj): SentimentView | null {
  const o = obj(outputs.sentiment);
  if (!o) return null;
  const u = o.urgency;
  const uo = obj(u);
  const reasons = [uo?.reasons, o.reasons].flatMap((r) => (Array.isArray(r) ? r.map((x) => (typeof x === "string" ? x : str(obj(x)?.reason) ?? JSON.stringify(x))) : []));
  return { label: str(o.label), score: num(o.score ?? o.confidence), urgency: typeof u === "string" ? u : str(uo?.level), reasons };
}

/** Reads outputs.entities (an array, or {entities: [...]}, of {type|label, value|text}). */
export function entitiesOf(outputs: Obj): EntityView[] {
  const raw = outputs.entities;
  const list = Array.isArray(raw) ? raw : Array.isArray(obj(raw)?.entities) ? (obj(raw)!.entities as unknown[]) : [];
  return list.flatMap((e) => {
    const x = obj(e);
    const type = str(x?.type ?? x?.label ?? x?.kind);
    const value = str(x?.value ?? x?.text ?? x?.masked);
    return type && value ? [{ type, value }] : [];
  });
}

/** Reads outputs.knowledge ({passages|results|hits: [...]} or an array) and whether retrieval abstained. */
export function knowledgeOf(outputs: Obj): { passages: PassageView[]; guidance: PassageView[]; abstained: boolean; reason: string | null } | null {
  const raw = outputs.knowledge;
  if (raw === undefined || raw === null) return null;
  const o = obj(raw);
  const list = Array.isArray(raw) ? raw : ([o?.passages, o?.results, o?.hits].find(Array.isArray) as unknown[] | undefined) ?? [];
  const views = (xs: unknown[]) =>
    xs.flatMap((p, i) => {
      const x = obj(p);
      const text = str(x?.text ?? x?.snippet ?? x?.content);
      if (!x || !text) return [];
      return [{ id: str(x.id ?? x.passage_id) ?? `#${i + 1}`, source: str(x.source ?? x.url ?? x.doc), title: str(x.title), score: num(x.score), text }];
    });
  const guidance = Array.isArray(o?.guidance) ? views(o!.guidance as unknown[]) : [];
  return { passages: views(list), guidance, abstained: o?.abstained === true || o?.abstain === true, reason: str(o?.abstain_reason) };
}

/** Reads outputs.reply. */
export function replyOf(outputs: Obj): ReplyView | null {
  const o = obj(outputs.reply);
  const text = str(o?.text);
  if (!o || !text) return null;
  const citations = Array.isArray(o.citations) ? o.citations.flatMap((c) => (typeof c === "string" ? [c] : str(obj(c)?.id) ? [str(obj(c)?.id)!] : [])) : [];
  return { text, status: str(o.status), citations, note: str(o.note ?? o.reason ?? o.policy_reason) };
}
