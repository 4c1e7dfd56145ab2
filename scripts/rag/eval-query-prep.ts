/**
 * eval:query-prep — how much email boilerplate hurts retrieval, and how much query preparation wins back.
 *
 *   bun run eval:query-prep [--per-intent 12]
 *
 * Banking77 training utterances of the intents kb/northwind answers (the hand-made map of train:answerability) are
 * searched three ways against the bank KB: bare; wrapped in a realistic email (greeting, courtesy line, sign-off,
 * signature with company and phone, in EN/FR/DE/ES rotation) and searched raw; and the same email after
 * prepareQuery (src/rag/query.ts). Reports hit@1 and hit@3 of the gold page and the share the product would abstain
 * on (cosine threshold). The last line is JSON.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../../src/config.ts";
import { stableHash } from "../../src/ml/data.ts";
import { loadEmbedder } from "../../src/ml/index.ts";
import { openKnowledge } from "../../src/rag/index.ts";
import { prepareQuery } from "../../src/rag/query.ts";
import { tempDir } from "./util.ts";

const ROOT = resolve(import.meta.dir, "../..");
const { values: a } = parseArgs({ options: { "per-intent": { type: "string", default: "12" } } });
process.chdir(ROOT);
const config = loadConfig(process.env);
const load0 = Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);

/** Banking77 intents and the kb/northwind page that answers them (same map as train:answerability). */
const MAP: Record<string, string> = {
  lost_or_stolen_card: "cards-lost-stolen", declined_card_payment: "cards-declined", card_payment_not_recognised: "cards-disputes",
  Refund_not_showing_up: "cards-disputes", terminate_account: "account-close", verify_my_identity: "account-open-verify",
  unable_to_verify_identity: "account-open-verify", direct_debit_payment_not_recognised: "payments-direct-debits",
  cancel_transfer: "payments-transfers", transfer_timing: "payments-transfers", passcode_forgotten: "security-login-2fa",
  lost_or_stolen_phone: "security-login-2fa", cash_withdrawal_charge: "fees-and-limits",
};
const WRAPPERS: ((q: string) => string)[] = [
  (q) => `Hi team,\n\nI hope this email finds you well. ${q}\n\nThanks in advance for your help.\n\nBest regards,\nEmma Dubois\nACME GmbH | +49 30 1234567\nFriedrichstraße 12, 10117 Berlin`,
  (q) => `Bonjour,\n\n${q}\n\nMerci d'avance.\n\nCordialement,\nJean Dupont\nSARL Dupont & Fils\nTél. : +33 1 23 45 67 89`,
  (q) => `Sehr geehrte Damen und Herren,\n\n${q}\n\nMit freundlichen Grüßen\nKlaus Weber\nGeschäftsführer\nWeber Logistik GmbH\nTel.: +49 89 123456\n\nDiese E-Mail ist vertraulich. Wenn Sie nicht der richtige Adressat sind, informieren Sie bitte sofort den Absender.`,
  (q) => `Hola,\n\n${q}\n\nQuedo a la espera de su respuesta.\n\nSaludos,\nCarlos Pérez\nPérez Consultores S.L.\nTel: +34 912 345 678\n\nEnviado desde mi iPhone`,
  (q) => `${q}\n\nSent from my iPhone\n\nOn Mon, 30 Nov 2026 at 09:12, Northwind Support <help@northwind.example> wrote:\n> Thank you for contacting Northwind. Your case number is 48213.\n> Kind regards`,
];

const rows = readFileSync(join(ROOT, "../shared/data/banking77/train.csv"), "utf8").split("\n").slice(1).filter((l) => l.trim());
const byIntent = new Map<string, string[]>();
for (const l of rows) {
  const i = l.lastIndexOf(",");
  const label = l.slice(i + 1).trim();
  if (MAP[label]) byIntent.set(label, [...(byIntent.get(label) ?? []), l.slice(0, i).replace(/^"|"$/g, "").replace(/""/g, '"')]);
}
const queries = [...byIntent].flatMap(([intent, texts]) =>
  [...texts].sort((x, y) => stableHash(`qp${x}`) - stableHash(`qp${y}`)).slice(0, Number(a["per-intent"])).map((q) => ({ q, gold: MAP[intent]! })),
);

const embedder = await loadEmbedder({ modelsDir: config.models.dir });
const tmp = tempDir("query-prep-");
const k = await openKnowledge({ embedder, dataDir: tmp.dir, kbDir: "kb/northwind", answerability: null, params: { threshold: config.rag.threshold } });
const tally = { bare: { h1: 0, h3: 0, abstain: 0 }, raw: { h1: 0, h3: 0, abstain: 0 }, prepared: { h1: 0, h3: 0, abstain: 0 } };
for (const [i, { q, gold }] of queries.entries()) {
  const email = WRAPPERS[i % WRAPPERS.length]!(q);
  for (const [mode, text] of [["bare", q], ["raw", email], ["prepared", prepareQuery(email).query]] as const) {
    const r = await k.search(text);
    const ids = r.passages.map((p) => p.doc_id.split("/").pop());
    if (ids[0] === gold) tally[mode].h1++;
    if (ids.slice(0, 3).includes(gold)) tally[mode].h3++;
    if (r.abstain) tally[mode].abstain++;
  }
}
await k.close();
tmp.cleanup();
const n = queries.length;
const r3 = (x: number) => Math.round((x / n) * 1000) / 1000;
console.log(`${n} Banking77 questions (${byIntent.size} intents) against kb/northwind; cosine threshold ${config.rag.threshold}; load average ${load0}\n`);
console.log("| query | hit@1 | hit@3 | abstain (cosine) |\n|---|---|---|---|");
for (const [m, t] of Object.entries(tally)) console.log(`| ${m === "bare" ? "the question alone" : m === "raw" ? "inside an email, raw" : "inside an email, prepared"} | ${r3(t.h1)} | ${r3(t.h3)} | ${r3(t.abstain)} |`);
console.log(JSON.stringify({ n, ...Object.fromEntries(Object.entries(tally).map(([m, t]) => [m, { hit1: r3(t.h1), hit3: r3(t.h3), abstain: r3(t.abstain) }])), load_avg_1m: load0 }));
process.exit(0);
