import { createHash } from "node:crypto";
import { simpleParser, type AddressObject, type ParsedMail } from "mailparser";
import type { Attachment } from "../../schema/message.ts";

/** An email reduced to what the copilot needs: headers for threading, the new text, and what was cut from it. */
export interface ParsedEmail {
  /** Message-ID without angle brackets; synthesized (and flagged) when the header is missing. */
  messageId: string;
  synthesizedId: boolean;
  inReplyTo: string | null;
  references: string[];
  subject: string;
  from: { address: string | null; name: string | null };
  to: string[];
  cc: string[];
  date: string | null;
  /** The customer's new words: quoted history and signature removed. */
  body: string;
  /** Quoted history cut from the body (kept for context, never the model input). */
  quoted: string | null;
  signature: string | null;
  /** True when the text was produced from the HTML part because there was no usable plain-text part. */
  fromHtml: boolean;
  attachments: Attachment[];
  inlineParts: number;
  /** Auto-Submitted / Precedence: bulk mail: never answered automatically (mail loops). */
  autoSubmitted: boolean;
  /** Set when the mail was over the size limit and only its text part(s) and attachment list were read. */
  oversized?: { size: number; limit: number };
  /** Set when the MIME body could not be parsed and only the headers were kept: the parser's reason. */
  unreadable?: string;
}

const CONTENT_TYPE = /^[\w.+-]+\/[\w.+-]+$/;

/** Strips angle brackets and whitespace from a Message-ID. */
export function bareId(id: string): string {
  return id.trim().replace(/^<+/, "").replace(/>+$/, "").trim();
}

function idList(v: string | string[] | undefined): string[] {
  if (!v) return [];
  const all = (Array.isArray(v) ? v : [v]).flatMap((s) => s.match(/<[^<>\s]+>/g) ?? s.split(/\s+/));
  return all.map(bareId).filter(Boolean);
}

function addresses(a: AddressObject | AddressObject[] | undefined): { address: string; name: string }[] {
  if (!a) return [];
  return (Array.isArray(a) ? a : [a]).flatMap((o) => o.value).flatMap((v) => (v.group ? v.group : [v])).map((v) => ({ address: (v.address ?? "").trim(), name: (v.name ?? "").trim() }));
}

/**
 * Parses raw RFC 5322 bytes with mailparser (MIME, transfer encodings, charsets such as ISO-8859-1), prefers the
 * plain-text part, falls back to the HTML converted to text, and splits quoted history and signature off.
 */
export async function parseEmail(source: Buffer | string, fallbackId: string): Promise<ParsedEmail> {
  const p: ParsedMail = await simpleParser(source, { skipHtmlToText: false, skipTextToHtml: true, skipImageLinks: true });
  let text = (p.text ?? "").trim();
  let fromHtml = false;
  if (!text && typeof p.html === "string" && p.html.trim()) {
    // The plain part is missing or empty: let mailparser's own HTML converter produce the text.
    const html = await simpleParser(`Content-Type: text/html; charset=utf-8\r\n\r\n${p.html}`);
    text = (html.text ?? "").trim();
    fromHtml = true;
  } else if (typeof p.html === "string" && !/content-type:\s*text\/plain/i.test(typeof source === "string" ? source : source.toString("latin1"))) {
    fromHtml = true;
  }
  const split = splitReply(text);
  const mid = p.messageId ? bareId(p.messageId) : "";
  const from = addresses(p.from)[0];
  const headerValue = (name: string) => {
    const v = p.headers.get(name);
    return typeof v === "string" ? v.toLowerCase() : v && typeof v === "object" && "value" in v ? String((v as { value: unknown }).value).toLowerCase() : "";
  };
  const auto = headerValue("auto-submitted");
  const precedence = headerValue("precedence");
  const attachments: Attachment[] = [];
  let inline = 0;
  p.attachments.forEach((a, i) => {
    if (a.related || (a.contentDisposition === "inline" && !a.filename)) {
      inline++;
      return;
    }
    const ct = (a.contentType ?? "").toLowerCase();
    attachments.push({
      name: (a.filename ?? `attachment-${i + 1}`).slice(0, 255) || `attachment-${i + 1}`,
      content_type: CONTENT_TYPE.test(ct) ? ct : "application/octet-stream",
      size: a.size ?? a.content?.length ?? 0,
    });
  });
  return {
    messageId: mid || fallbackId,
    synthesizedId: !mid,
    inReplyTo: idList(p.inReplyTo)[0] ?? null,
    references: idList(p.references),
    subject: (p.subject ?? "").trim(),
    from: { address: from?.address || null, name: from?.name || null },
    to: addresses(p.to).map((a) => a.address).filter(Boolean),
    cc: addresses(p.cc).map((a) => a.address).filter(Boolean),
    date: p.date && !Number.isNaN(p.date.getTime()) ? p.date.toISOString() : null,
    body: split.body,
    quoted: split.quoted,
    signature: split.signature,
    fromHtml,
    attachments,
    inlineParts: inline,
    autoSubmitted: (auto !== "" && auto !== "no") || ["bulk", "junk", "list", "auto_reply"].includes(precedence.trim()),
  };
}

/** Lines that open quoted history in common mail clients (English, French, German, Spanish, Outlook). */
const QUOTE_HEADER = [
  /^On\b.{0,300}\bwrote:?\s*$/i,
  /^Le\b.{0,300}\ba [ée]crit\s*:\s*$/i,
  /^Am\b.{0,300}\bschrieb\b.{0,200}:\s*$/i,
  /^El\b.{0,300}\bescribi[óo]:\s*$/i,
  /^-{2,}\s*(Original Message|Urspr[üu]ngliche Nachricht|Message d'origine)\s*-{2,}\s*$/i,
];
const OUTLOOK_RULE = /^_{10,}\s*$/;
const OUTLOOK_FROM = /^\*?(From|De|Von):\*?\s/i;
const OUTLOOK_NEXT = /^\*?(Sent|Date|Envoy[ée]|Gesendet|To|Subject):\*?\s/i;
const MOBILE_FOOTER = /^(Sent from my \w[\w ]*|Sent from (Mail|Outlook) for \w+|Get Outlook for \w+|Envoy[ée] de mon \w+|Von meinem \w+ gesendet)\.?\s*$/i;

/**
 * Splits a plain-text email into the new words, the quoted history (from the first "On … wrote:" / Outlook
 * header / run of `>` lines) and the signature (after the RFC 3676 `-- ` delimiter, or a mobile footer).
 */
export function splitReply(text: string): { body: string; quoted: string | null; signature: string | null } {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let cut = lines.length;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const joined = `${line} ${(lines[i + 1] ?? "").trim()}`;
    if (QUOTE_HEADER.some((r) => r.test(line))) {
      cut = i;
      break;
    }
    if (/^On\b/i.test(line) && !/wrote:?\s*$/i.test(line) && QUOTE_HEADER[0]!.test(joined)) {
      cut = i;
      break;
    }
    if (OUTLOOK_RULE.test(line) && OUTLOOK_FROM.test((lines[i + 1] ?? "").trim())) {
      cut = i;
      break;
    }
    if (OUTLOOK_FROM.test(line) && lines.slice(i + 1, i + 4).some((l) => OUTLOOK_NEXT.test(l.trim()))) {
      cut = i;
      break;
    }
  }
  const quotedParts: string[] = [];
  if (cut < lines.length) quotedParts.push(lines.slice(cut).join("\n"));
  const kept: string[] = [];
  const inlineQuotes: string[] = [];
  for (const l of lines.slice(0, cut)) {
    if (/^\s*>/.test(l)) inlineQuotes.push(l);
    else kept.push(l);
  }
  if (inlineQuotes.length) quotedParts.unshift(inlineQuotes.join("\n"));

  let signature: string | null = null;
  let sigAt = -1;
  for (let i = kept.length - 1; i >= 0; i--) {
    if (kept[i] === "-- " || kept[i]!.trimEnd() === "--") {
      sigAt = i;
      break;
    }
  }
  if (sigAt >= 0) {
    signature = kept.slice(sigAt + 1).join("\n").trim() || null;
    kept.length = sigAt;
  }
  while (kept.length && kept[kept.length - 1]!.trim() === "") kept.pop();
  if (kept.length && MOBILE_FOOTER.test(kept[kept.length - 1]!.trim())) {
    const footer = kept.pop()!.trim();
    signature = signature ? `${footer}\n${signature}` : footer;
  }
  const body = kept.join("\n").replace(/\n{3,}/g, "\n\n").trim();
  const quoted = quotedParts.join("\n").trim();
  return { body, quoted: quoted || null, signature };
}

/** The conversation of an email thread, named after the thread's root Message-ID (hashed when very long). */
export function emailConversationId(rootMessageId: string): string {
  const id = `email:${rootMessageId}`;
  return id.length <= 200 ? id : `email:sha256:${createHash("sha256").update(rootMessageId).digest("hex").slice(0, 40)}`;
}

/**
 * Picks the conversation of a mail: the conversation of its parent (In-Reply-To, then References newest first)
 * when that mail is known, else the thread root named by References, else the mail itself.
 */
export function resolveConversation(e: Pick<ParsedEmail, "messageId" | "inReplyTo" | "references">, known: (messageId: string) => string | undefined): string {
  const parents = [...(e.inReplyTo ? [e.inReplyTo] : []), ...[...e.references].reverse()];
  for (const p of parents) {
    const c = known(p);
    if (c) return c;
  }
  if (e.references[0]) return emailConversationId(e.references[0]);
  if (e.inReplyTo) return emailConversationId(e.inReplyTo);
  return emailConversationId(e.messageId);
}

/** Where a mail goes: its conversation, and the thread it replied to when it was not allowed to join it. */
export interface ThreadPlacement {
  conversationId: string;
  /** The conversation the mail's headers point at, when the sender does not take part in it (a new conversation links to it). */
  linkedThread: string | null;
}

/**
 * Threading with a participation check: a mail joins the conversation its In-Reply-To/References point at only if
 * its sender already takes part in that thread, is from one of the company's domains, or the thread has no known
 * participant yet (a thread first seen now, or rows older than the check). Anyone else who knows a Message-ID starts
 * a new conversation that links to the thread, so they never see its memory nor redirect its replies.
 */
export function placeMail(
  e: Pick<ParsedEmail, "messageId" | "inReplyTo" | "references" | "from">,
  known: (messageId: string) => string | undefined,
  participants: (conversationId: string) => ReadonlySet<string> | undefined,
  senderIndex: string | null,
  companyDomains: readonly string[],
): ThreadPlacement {
  const own = emailConversationId(e.messageId);
  const target = resolveConversation(e, known);
  if (target === own) return { conversationId: own, linkedThread: null };
  const who = participants(target);
  if (!who || who.size === 0) return { conversationId: target, linkedThread: null };
  if (senderIndex && who.has(senderIndex)) return { conversationId: target, linkedThread: null };
  const domain = e.from.address?.toLowerCase().split("@")[1] ?? "";
  if (domain && companyDomains.includes(domain)) return { conversationId: target, linkedThread: null };
  return { conversationId: own, linkedThread: target };
}
