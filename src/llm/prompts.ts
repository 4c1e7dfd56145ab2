import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { AppError } from "../errors.ts";

/** Folder holding the versioned prompt templates (`<name>/<version>/...`). */
export const PROMPTS_DIR = fileURLToPath(new URL("./prompts", import.meta.url));

/** Fixed sentences of one reply language (used when the model must not improvise). */
export interface LanguagePhrases {
  name: string;
  follow_up: string;
  clarify: string;
  /** `{{name}}` is the customer's first name. */
  greeting: string;
  greeting_anonymous: string;
  /** Opens the answer of an extractive draft. */
  thanks: string;
  /** What the customer can do next when the quoted answer is not enough. */
  next_step: string;
  sign_off: string;
  /** `{{company}}` is the configured company name. */
  team: string;
  /** Names a second, equally likely article in an extractive draft; `{{article}}` is its name. Optional: without it no second article is named. */
  see_also?: string;
}

const PHRASE_KEYS = ["name", "follow_up", "clarify", "greeting", "greeting_anonymous", "thanks", "next_step", "sign_off", "team"] as const;

/** A loaded template set; `id` (e.g. `reply/v1`) and `sha` (content hash) are recorded on every draft. */
export interface ReplyTemplates {
  id: string;
  sha: string;
  system: string;
  user: string;
  abstain: string;
  guidance: Record<string, string>;
  phrases: Record<string, LanguagePhrases>;
}

// Known placeholders of each file; `required` must all appear. The user template carries the conversation either as
// `{{summary}}` + `{{history}}` inside its own tags (v1) or as `{{memory}}`, a block that is empty when there is none (v2+).
const VARS: Record<"system" | "user" | "abstain", { known: string[]; required: string[]; oneOf?: string[][] }> = {
  system: { known: ["company", "max_sentences", "language_name"], required: ["company", "max_sentences", "language_name"] },
  user: { known: ["intent", "guidance", "summary", "history", "memory", "passages", "message"], required: ["intent", "guidance", "passages", "message"], oneOf: [["summary", "history"], ["memory"]] },
  abstain: { known: ["intent", "history", "message", "language_name"], required: ["intent", "history", "message", "language_name"] },
};

/** Loads and validates `reply/<version>`: every placeholder known, every required one present, English phrases present. */
export function loadReplyTemplates(version = "v1", dir = PROMPTS_DIR): ReplyTemplates {
  const base = `${dir}/reply/${version}`;
  if (!existsSync(base)) throw new AppError("bad_options", `no prompt templates at ${base}`);
  const read = (f: string) => readFileSync(`${base}/${f}`, "utf8");
  const files = { system: read("system.md"), user: read("user.md"), abstain: read("abstain.md") };
  for (const [name, text] of Object.entries(files) as [keyof typeof VARS, string][]) {
    const used = new Set([...text.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]!));
    const spec = VARS[name];
    for (const u of used) if (!spec.known.includes(u)) throw new AppError("bad_options", `${base}/${name}.md uses unknown placeholder {{${u}}}`);
    for (const v of spec.required) if (!used.has(v)) throw new AppError("bad_options", `${base}/${name}.md lacks {{${v}}}`);
    if (spec.oneOf && spec.oneOf.filter((set) => set.every((v) => used.has(v))).length !== 1) {
      throw new AppError("bad_options", `${base}/${name}.md must use exactly one of ${spec.oneOf.map((set) => set.map((v) => `{{${v}}}`).join(" + ")).join(" or ")}`);
    }
  }
  const guidanceRaw = read("guidance.json");
  const phrasesRaw = read("phrases.json");
  const guidance = JSON.parse(guidanceRaw) as Record<string, string>;
  const phrases = JSON.parse(phrasesRaw) as Record<string, LanguagePhrases>;
  if (!guidance.default) throw new AppError("bad_options", `${base}/guidance.json needs a "default" entry`);
  if (!phrases.en) throw new AppError("bad_options", `${base}/phrases.json needs "en"`);
  for (const [lang, p] of Object.entries(phrases)) {
    const missing = PHRASE_KEYS.filter((k) => typeof p[k] !== "string" || !p[k]);
    if (missing.length) throw new AppError("bad_options", `${base}/phrases.json: "${lang}" lacks ${missing.join(", ")}`);
  }
  const sha = createHash("sha256").update([files.system, files.user, files.abstain, guidanceRaw, phrasesRaw].join("\0")).digest("hex").slice(0, 12);
  return { id: `reply/${version}`, sha, ...files, guidance, phrases };
}

/**
 * Substitutes `{{name}}` in one pass: values are inserted literally, so text that itself contains `{{...}}`
 * (a customer typing template syntax) is never expanded.
 */
export function render(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    const v = vars[k];
    if (v === undefined) throw new AppError("bad_template", `no value for {{${k}}}`);
    return String(v);
  });
}

/**
 * Neutralises the fence tags inside untrusted text so it cannot close its own fence and speak as the system
 * (`</customer_message>` becomes `&lt;/customer_message>`); other text is left as written.
 */
export function fence(text: string): string {
  return text.replace(/<(\/?)(\s*)(customer_message|passages|passage|history|summary)\b/gi, "&lt;$1$2$3");
}
