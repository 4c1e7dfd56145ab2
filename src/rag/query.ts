/**
 * Query preparation: the customer's own words, without the parts of an email or chat that are not the question.
 * Greetings, sign-offs, signatures, contact blocks, legal disclaimers and quoted history carry no information about
 * what is asked, yet they dominate short messages ("Best regards, Emma Dubois, ACME GmbH | +49 30 …") and pull
 * retrieval towards the wrong passages. Rules are line- and sentence-based, in English, French, German and Spanish;
 * the stored message is never changed, only the text that is searched and shown to the drafting prompt.
 */

/** The cleaned question and what was taken out. */
export interface PreparedQuery {
  /** One line of the customer's words, for retrieval (empty when nothing but pleasantries was left). */
  query: string;
  /** The same words with their line breaks, for the prompt's view of the question. */
  question: string;
  /** Kinds of text that were removed (for diagnostics): greeting, signoff, signature, contact, disclaimer, quoted. */
  removed: string[];
  /** True when the message holds no question at all (only a greeting, thanks, a signature...). */
  empty: boolean;
}

const NAME = "[A-ZÀ-ÖØ-Þ][\\p{L}'’.-]*";

// Where quoted history starts: everything from that line on is someone else's earlier text.
const QUOTE_HEADERS: RegExp[] = [
  /^\s*(on|le|am|el)\b[^\n]{0,200}(\n[^\n]{0,120})?\b(wrote|a écrit|schrieb|escribió)\s*:\s*$/imu,
  /^\s*-{2,}\s*(original message|forwarded message|ursprüngliche nachricht|weitergeleitete nachricht|message d'origine|message transféré|mensaje original|mensaje reenviado)\s*-{2,}\s*$/imu,
  /^\s*_{10,}\s*$/m,
  /^\s*(begin forwarded message|début du message réexpédié)\s*:\s*$/imu,
];
// An Outlook-style header block: a From line followed closely by another header line.
const HEADER_FROM = /^\s*\**(from|von|de|sent|gesendet|envoyé|enviado)\s*:\**\s/iu;
const HEADER_ANY = /^\s*\**(from|von|de|to|an|à|a|para|cc|sent|date|datum|gesendet|envoyé|enviado|fecha|subject|betreff|objet|asunto)\s*:\**\s/iu;

const GREETING_WORDS =
  "hi|hello|hey|hiya|howdy|greetings|good (?:morning|afternoon|evening|day)|dear|to whom it may concern|" +
  "bonjour|bonsoir|salut|coucou|cher|chère|chers|madame|monsieur|" +
  "hallo|moin|servus|guten (?:tag|morgen|abend)|sehr geehrte[rsn]?|liebe[rsn]?|grüß gott|grüezi|" +
  "hola|buen[oa]s (?:días|dias|tardes|noches)|buen día|estimad[oa]s?|saludos cordiales a todos|querid[oa]s?";
// A greeting line on its own: the greeting word, an optional addressee of up to five words, punctuation.
const GREETING_LINE = new RegExp(`^\\s*(?:${GREETING_WORDS})\\b[^\\n?]{0,60}?[,!:.;–-]*\\s*$`, "iu");
// A greeting opening a line that goes on with the question ("Hi, I lost my card").
// Case-insensitive words, case-sensitive names: "Hi Anna," is a greeting, "Hi I lost card, what now" is not.
const GREETING_PREFIX = new RegExp(`^\\s*(?i:${GREETING_WORDS})(?:\\s+(?:(?i:there|all|team|everyone|support)|${NAME})){0,3}\\s*[,!:.;–-]+\\s*`, "u");

// A short greeting word run straight into the sentence ("hi I lost my card, what now?").
const BARE_GREETING = /^\s*(?i:hi|hello|hey|hallo|hola|bonjour|salut|moin)\s+(?=\S+\s+\S+\s+\S)/u;

const SIGNOFF_WORDS =
  "best regards|kind regards|warm regards|regards|best wishes|best|cheers|sincerely|yours sincerely|yours faithfully|yours truly|respectfully|" +
  "thanks(?: (?:a lot|so much|again|in advance))?|many thanks|thank you(?: (?:very much|so much|again|in advance))?|thx|ty|talk soon|take care|" +
  "cordialement|bien cordialement|bien à vous|salutations(?: distinguées)?|merci(?: (?:beaucoup|d'avance|par avance|encore))?|bonne journée|bonne soirée|amicalement|" +
  "mit freundlichen grüßen|mit freundlichen grüssen|freundliche grüße|freundliche grüsse|viele grüße|viele grüsse|beste grüße|liebe grüße|lg|mfg|vg|gruß|grüße|danke(?: (?:schön|sehr|im voraus))?|vielen dank(?: im voraus)?|" +
  "saludos(?: cordiales)?|un saludo|atentamente|cordialmente|gracias(?: de antemano| por adelantado)?|muchas gracias|un abrazo|reciba un cordial saludo";
// A sign-off line: the phrase alone, or followed by a name on the same line ("Thanks, Emma").
// The phrase in any case, then only a capitalised name: "Merci de me rappeler" is a request, not a sign-off.
const SIGNOFF_LINE = new RegExp(`^\\s*[¡¿]?(?i:${SIGNOFF_WORDS})\\b[\\s,.!]*(?:${NAME}(?:\\s+${NAME}){0,2})?[\\s,.!]*$`, "u");

// Whole sentences that are courtesy, not content.
const PLEASANTRY_SENTENCES: RegExp[] = [
  /\b(?:thanks|thank you)(?: (?:so|very) much)?(?: (?:in advance|again))?(?: for (?:your|any|the) (?:help|time|assistance|support|reply|response|patience)(?: (?:on|with) this)?)?(?: in advance)?\s*[.!]*$/iu,
  /^[¡]?(?:danke|vielen dank|merci|muchas gracias|gracias|grazie)(?: (?:schön|sehr|beaucoup|im voraus|d'avance|par avance|de antemano|por adelantado))?\s*[.!]*$/iu,
  /^(?:i )?hope (?:this|you)[^.!?]{0,60}(?:well|good|great)[.!]*$/iu,
  /^(?:i(?:'m| am) )?looking forward to (?:hearing from you|your (?:reply|response|answer))[.!]*$/iu,
  /^(?:please )?let me know(?: (?:asap|as soon as possible|if you need anything else))?[.!]*$/iu,
  /^any help (?:is|would be) (?:much |greatly )?appreciated[.!]*$/iu,
  /^(?:j'espère que vous (?:allez|vous portez) bien|merci (?:d'avance|par avance|pour votre (?:aide|retour|réponse))|dans l'attente de votre (?:réponse|retour)|je reste à votre disposition[^.!?]*)[.!]*$/iu,
  /^(?:ich hoffe,? (?:es geht ihnen|du bist|ihr seid) gut|(?:vielen )?dank (?:im voraus|für ihre (?:hilfe|antwort|mühe))|ich freue mich auf ihre (?:antwort|rückmeldung)|für rückfragen stehe ich[^.!?]*)[.!]*$/iu,
  /^(?:espero que (?:estén|esté|estés) bien|gracias (?:de antemano|por adelantado|por (?:su|tu) (?:ayuda|respuesta))|quedo a la espera de (?:su|tu) respuesta|quedo atent[oa][^.!?]*)[.!]*$/iu,
];

const SIGNATURE_CUT = [
  /^\s*--\s*$/,
  /^\s*(sent from my|envoyé de mon|von meinem|enviado desde mi|get outlook for|obtenir outlook pour|outlook für)\b/iu,
];

const DISCLAIMER = [
  /\b(confidential|privileged|intended (?:solely |only )?for the (?:use of the )?(?:addressee|recipient|individual)|if you (?:are not|have received this)|disclaimer|please consider the environment before printing)\b/iu,
  /\b(confidentiel|destinataire|si vous (?:n'êtes pas|avez reçu ce)|avant d'imprimer)\b/iu,
  /\b(vertraulich|nicht der (?:richtige|beabsichtigte) adressat|irrtümlich erhalten|bevor sie diese e-mail ausdrucken)\b/iu,
  /\b(confidencial|destinatario|si (?:usted )?(?:no es|ha recibido este)|antes de imprimir)\b/iu,
];

const PHONE = /(?:\+|\b00)\d[\d\s().\/-]{6,}\d|\(\d{2,5}\)\s*\d[\d\s.\/-]{4,}\d|\b\d{2,5}[\s.\/-]\d{2,4}[\s.\/-]\d{2,4}(?:[\s.\/-]\d{2,4})?\b/;
const CONTACT_LABEL = /^\s*(tel|tél|phone|mobile|mob|cell|fax|handy|telefon|teléfono|móvil|portable|e-?mail|courriel|correo|web|www|website|address|adresse|anschrift|dirección|skype|linkedin)\b\.?\s*[:.]/iu;
const EMAIL = /\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b/;
const URL = /\b(?:https?:\/\/|www\.)\S+/i;
const COMPANY = /\b(?:GmbH|AG|KG|e\.V\.|Ltd\.?|Limited|LLC|LLP|Inc\.?|Corp\.?|plc|S\.?A\.?S?|SARL|SAS|S\.L\.|S\.A\.|SpA|B\.V\.|N\.V\.|Pty)(?=$|[\s,|.])/u;
const STREET = /\b\d{1,4}[a-z]?,?\s+[\p{L}' .-]{2,40}\b(?:street|st\.|road|rd\.|avenue|ave\.|lane|way|boulevard|blvd)\b|\b(?:rue|avenue|boulevard|chemin|allée|impasse|calle|avenida|c\/|paseo|plaza)\s+[\p{L}' .-]{2,40}|[\p{L}-]+(?:straße|strasse|str\.|weg|platz|allee|gasse)\s+\d{1,4}/iu;
const POSTCODE = /^\s*(?:[A-Z]{1,2}-)?\d{4,5}\s+\p{Lu}[\p{L}-]+(?:\s+\p{Lu}[\p{L}-]+)?\s*(?:,.*)?$|\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b/u;
const JOB_TITLE = /^\s*(?:ceo|cto|cfo|founder|co-founder|managing director|director|manager|head of|team lead|assistant|account manager|directeur|directrice|responsable|gérant|geschäftsführer(?:in)?|leiter(?:in)?|abteilungsleiter|gerente|director[a]?|jef[ea] de)\b[^?]{0,60}$/iu;

const words = (s: string) => s.trim().split(/\s+/).filter(Boolean).length;

function isContactLine(line: string): boolean {
  if (line.includes("?") || words(line) > 12) return false;
  if (CONTACT_LABEL.test(line) || EMAIL.test(line) || COMPANY.test(line) || JOB_TITLE.test(line)) return true;
  if (/\|/.test(line) && (PHONE.test(line) || words(line) <= 8)) return true;
  // A bare phone number or address line, without the words of a sentence around it.
  if ((PHONE.test(line) || STREET.test(line) || POSTCODE.test(line)) && words(line.replace(PHONE, "")) <= 8) return true;
  return URL.test(line) && words(line) <= 3;
}

/** A short line that reads like a name (one to four capitalised words, no sentence punctuation). */
function isNameLine(line: string): boolean {
  const t = line.trim().replace(/^[-–—~]\s*/, "");
  return /^(?:\p{Lu}[\p{L}'’.-]*\.?)(?:\s+(?:\p{Lu}[\p{L}'’.-]*\.?|de|van|von|der|la|le|del|da|y)){0,4}$/u.test(t) && !/[?!]/.test(t);
}

/** Drops whole courtesy sentences (thanks, hopes, "let me know") from a line, keeping the rest of it. */
function dropPleasantries(line: string): { text: string; dropped: boolean } {
  const parts = line.split(/(?<=[.!?])\s+/);
  const kept = parts.filter((s) => !PLEASANTRY_SENTENCES.some((r) => r.test(s.trim())));
  // "Thanks in advance, how do I …" / "Thank you! Could you …": a leading thank-you clause before the question.
  if (kept.length) kept[0] = kept[0]!.replace(/^\s*(?:thanks|thank you|merci|danke|gracias)(?: (?:so |very )?much)?(?: (?:in advance|d'avance|im voraus|de antemano))?\s*[,!.:;–-]+\s*/iu, "");
  const text = kept.join(" ").trim();
  return { text, dropped: kept.length !== parts.length || text !== line.trim() };
}

/** Cleans a customer message into the words that carry the question (see the module comment). */
export function prepareQuery(message: string): PreparedQuery {
  const removed = new Set<string>();
  let text = message.replace(/\r\n?/g, "\n").replace(/\u00a0/g, " ");

  // 1. Quoted history: cut at the first reply header, forward marker or Outlook header block.
  let cut = text.length;
  for (const r of QUOTE_HEADERS) {
    const m = r.exec(text);
    if (m && m.index < cut && m.index > 0) cut = m.index;
  }
  const lines0 = text.slice(0, cut).split("\n");
  for (let i = 0; i < lines0.length; i++) {
    if (HEADER_FROM.test(lines0[i]!) && lines0.slice(i + 1, i + 5).some((l) => HEADER_ANY.test(l))) {
      if (i > 0) {
        lines0.length = i;
        removed.add("quoted");
      }
      break;
    }
  }
  if (cut < text.length) removed.add("quoted");

  // 2. Line by line: quoted lines, signature markers, disclaimers, sign-offs and the signature block after them.
  const out: string[] = [];
  let afterSignoff = false;
  for (const raw of lines0) {
    const line = raw.replace(/\s+$/, "");
    if (/^\s*>/.test(line)) {
      removed.add("quoted");
      continue;
    }
    if (SIGNATURE_CUT.some((r) => r.test(line))) {
      removed.add("signature");
      break;
    }
    if (!line.trim()) {
      out.push("");
      continue;
    }
    if (DISCLAIMER.some((r) => r.test(line)) && !line.includes("?") && (words(line) >= 8 || /^\s*(disclaimer|confidentiality notice|avis de confidentialité|haftungsausschluss|aviso legal)\b/iu.test(line))) {
      removed.add("disclaimer");
      afterSignoff = true;
      continue;
    }
    if (SIGNOFF_LINE.test(line)) {
      removed.add("signoff");
      afterSignoff = true;
      continue;
    }
    if (isContactLine(line)) {
      removed.add("contact");
      continue;
    }
    // After a sign-off, names and short lines are the signature; a real sentence or question is still the customer's.
    if (afterSignoff && (isNameLine(line) || (words(line) <= 4 && !line.includes("?")))) {
      removed.add("signature");
      continue;
    }
    out.push(line);
  }

  // 3. Greetings at the start, courtesy sentences anywhere.
  const kept: string[] = [];
  let seenContent = false;
  for (const line of out) {
    if (!line.trim()) {
      kept.push("");
      continue;
    }
    let l = line;
    if (!seenContent) {
      if (GREETING_LINE.test(l) && !/\?/.test(l) && words(l) <= 7) {
        removed.add("greeting");
        continue;
      }
      const g = GREETING_PREFIX.exec(l) ?? BARE_GREETING.exec(l);
      if (g && g[0].length < l.length) {
        l = l.slice(g[0].length);
        removed.add("greeting");
      }
    }
    const p = dropPleasantries(l);
    if (p.dropped) removed.add("signoff");
    if (!p.text) continue;
    kept.push(p.text);
    seenContent = true;
  }
  // A trailing line that only names the writer ("Emma") after the last sentence is a signature too.
  while (kept.length && (!kept[kept.length - 1]!.trim() || (kept.length > 1 && isNameLine(kept[kept.length - 1]!) && words(kept[kept.length - 1]!) <= 3))) {
    if (kept[kept.length - 1]!.trim()) removed.add("signature");
    kept.pop();
  }
  const question = kept.join("\n").replace(/\n{3,}/g, "\n\n").trim();
  const query = question.replace(/\s+/g, " ").trim();
  const empty = !/[\p{L}\p{N}]{2,}/u.test(query);
  return { query: empty ? "" : query, question: empty ? "" : question, removed: [...removed], empty };
}
