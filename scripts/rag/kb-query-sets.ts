/**
 * The labelled query sets of the three non-StackFAQ knowledge bases (kb/northwind, examples/kb/abcd, a Banking77 FAQ),
 * shared by train:answerability (the default head) and eval:ranking (rank-1 accuracy), so parameters are chosen on
 * these and StackFAQ stays an out-of-domain check. Data is read in place from ../shared/data.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stableHash } from "../../src/ml/data.ts";
import { loadPath } from "../../src/rag/sources.ts";

/** One labelled query. */
export interface KbQuery {
  kb: string;
  text: string;
  /** Gold page id (suffix match on doc_id); null: the query has no answer in its own KB. */
  gold: string | null;
  kind: string;
}

/** Banking77 intents the bank KB answers, and the page that answers them (labelled by hand from the page contents). */
export const NORTHWIND_INTENTS: Record<string, string> = {
  lost_or_stolen_card: "cards-lost-stolen",
  declined_card_payment: "cards-declined",
  card_payment_not_recognised: "cards-disputes",
  Refund_not_showing_up: "cards-disputes",
  terminate_account: "account-close",
  verify_my_identity: "account-open-verify",
  unable_to_verify_identity: "account-open-verify",
  direct_debit_payment_not_recognised: "payments-direct-debits",
  cancel_transfer: "payments-transfers",
  transfer_timing: "payments-transfers",
  passcode_forgotten: "security-login-2fa",
  lost_or_stolen_phone: "security-login-2fa",
  cash_withdrawal_charge: "fees-and-limits",
};
/** Intents the bank KB has no page for (top-ups, virtual and disposable cards, crypto, spare cards...). */
export const NORTHWIND_UNCOVERED = ["top_up_by_cash_or_cheque", "get_disposable_virtual_card", "virtual_card_not_working", "fiat_currency_support", "top_up_failed", "pending_top_up", "topping_up_by_card", "automatic_top_up", "card_linking", "disposable_card_limits", "getting_spare_card", "age_limit", "top_up_limits", "verify_top_up"];

/** A deterministic pseudo-random pick of n items (salted stable hash order). */
export const pick = <T>(xs: T[], n: number, salt: string): T[] => [...xs].sort((x, y) => stableHash(salt + JSON.stringify(x)) - stableHash(salt + JSON.stringify(y))).slice(0, n);

/** A section heading asked as a question. */
export const headingQuestion = (h: string): string => (/[?]$/.test(h) ? h : /^(how|what|why|when|can|do|is|who|where)\b/i.test(h) ? `${h}?` : `How does ${h.charAt(0).toLowerCase()}${h.slice(1)} work?`);

/**
 * Builds the three KBs' query sets; the ABCD and Banking77-FAQ KBs are written as JSONL into `dir` (ABCD is internal
 * guidance in the product, read here as an ordinary KB: its text is what matters). Paths are relative to the repo root.
 */
export function kbQuerySets(dataDir: string, dir: string): { kbs: Record<string, string>; queries: KbQuery[]; outside: string[] } {
  const csv = (path: string) =>
    readFileSync(path, "utf8")
      .split("\n")
      .slice(1)
      .filter((l) => l.trim())
      .map((l) => {
        const i = l.lastIndexOf(",");
        return { text: l.slice(0, i).replace(/^"|"$/g, "").replace(/""/g, '"'), label: l.slice(i + 1).trim() };
      });
  const byIntent = new Map<string, string[]>();
  for (const r of csv(join(dataDir, "banking77/train.csv"))) byIntent.set(r.label, [...(byIntent.get(r.label) ?? []), r.text]);
  const queries: KbQuery[] = [];
  for (const [intent, page] of Object.entries(NORTHWIND_INTENTS)) for (const t of pick(byIntent.get(intent) ?? [], 12, "nw")) queries.push({ kb: "northwind", text: t, gold: page, kind: "banking77" });
  const headings = (path: string, kb: string) => {
    for (const { docs } of loadPath(path)) {
      for (const d of docs) {
        for (const m of d.text.matchAll(/^#{2,3}\s+(.+)$/gm)) queries.push({ kb, text: headingQuestion(m[1]!.trim()), gold: d.id.split("/").pop()!, kind: "heading" });
      }
    }
  };
  headings("kb/northwind", "northwind");
  headings("examples/kb/abcd", "abcd");
  for (const c of JSON.parse(readFileSync(join(dataDir, "abcd_kb/abcd_sample.json"), "utf8")) as { scenario: { flow: string }; original: [string, string][] }[]) {
    const first = c.original.find(([who, t]) => who === "customer" && t.split(/\s+/).length >= 6);
    if (first) queries.push({ kb: "abcd", text: first[1], gold: c.scenario.flow.replace(/_/g, "-"), kind: "chat" });
  }
  // The Banking77 FAQ: one page per intent built from 11 utterances; 4 other utterances of the intent are the queries.
  const faqDocs: string[] = [];
  for (const [intent, texts] of byIntent) {
    const [title, ...rest] = pick(texts, 15, "faq");
    faqDocs.push(JSON.stringify({ id: `b77-${intent}`, title, text: rest.slice(0, 10).join("\n\n") }));
    for (const q of rest.slice(10, 14)) queries.push({ kb: "banking77-faq", text: q, gold: `b77-${intent}`, kind: "faq" });
  }
  const outside = NORTHWIND_UNCOVERED.flatMap((i) => pick(byIntent.get(i) ?? [], 4, "out"));
  // Airline tweets would be handy off-topic negatives but are CC BY-NC-SA: the default head must stay usable commercially.
  const abcdJsonl = join(dir, "abcd.jsonl");
  writeFileSync(abcdJsonl, loadPath("examples/kb/abcd")[0]!.docs.map((d) => JSON.stringify({ id: d.id.split("/").pop(), title: d.title, text: d.text.replace(/^---[\s\S]*?---\n/, "") })).join("\n") + "\n");
  const faqJsonl = join(dir, "banking77-faq.jsonl");
  writeFileSync(faqJsonl, faqDocs.join("\n") + "\n");
  return { kbs: { northwind: "kb/northwind", abcd: abcdJsonl, "banking77-faq": faqJsonl }, queries, outside };
}
