import { hostname } from "node:os";
import { Type } from "@sinclair/typebox";
import { ImapFlow, type MessageStructureObject } from "imapflow";
import { AppError } from "../../errors.ts";
import type { IncomingMessage, MessagePublisher } from "../../ingest/publisher.ts";
import type { Logger } from "../../obs/log.ts";
import type { Attachment, MessageLimits } from "../../schema/message.ts";
import { backoffMs, clipBytes, stableId } from "../ids.ts";
import type { ChannelStore, EmailRow } from "../store.ts";
import { parseEmail, placeMail, resolveConversation, type ParsedEmail } from "./parse.ts";

/** Connection and behaviour of one IMAP mailbox. */
export interface ImapMailboxOptions {
  host: string;
  port: number;
  /** Implicit TLS (993); with false, STARTTLS is used when the server offers it. */
  secure: boolean;
  /** Verify the server certificate (turn off only for a lab server with a self-signed certificate). */
  tlsVerify: boolean;
  user: string;
  password: string;
  mailbox: string;
  /** What to do with a mail once it is on the topic: add a flag, move it, or leave it. */
  processed: { mode: "flag"; flag: string } | { mode: "move"; mailbox: string } | { mode: "none" };
  /** Use IDLE when the server supports it; otherwise (or when false) poll every `pollMs`. */
  idle: boolean;
  pollMs: number;
  /** In IDLE mode, a full re-check this often anyway (a missed notification must not stall the mailbox). */
  resyncMs: number;
  batchSize: number;
  backoff: { baseMs: number; maxMs: number };
  leaseMs: number;
  /**
   * RFC822.SIZE above which a mail is read as its text part(s) and attachment list only; it is also the most bytes
   * of mail sources held in memory at once (a batch is read in chunks under it, the checkpoint moving per chunk).
   */
  maxMessageBytes?: number;
}

/** Default of `maxMessageBytes` (10 MB, like IMAP_MAX_MESSAGE_BYTES). */
export const DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
/** Bytes read of one text part of an oversized mail: whole 78-byte base64 lines, about 1 MB. */
const TEXT_PART_MAX_BYTES = 78 * 13_443;
/** Bytes read of the header block of an oversized mail (a header bomb cannot exhaust memory either). */
const HEADER_MAX_BYTES = 256 * 1024;
const CONTENT_TYPE = /^[\w.+-]+\/[\w.+-]+$/;

/** The leaves of a BODYSTRUCTURE, split into the text to read and the attachments to list. */
export function splitStructure(root: MessageStructureObject | undefined): { texts: MessageStructureObject[]; attachments: Attachment[] } {
  const plain: MessageStructureObject[] = [];
  const html: MessageStructureObject[] = [];
  const attachments: Attachment[] = [];
  const walk = (n: MessageStructureObject, depth: number) => {
    if (n.childNodes?.length) {
      if (depth < 32) for (const c of n.childNodes) walk(c, depth + 1);
      return;
    }
    const type = (n.type || "application/octet-stream").toLowerCase();
    const attached = n.disposition?.toLowerCase() === "attachment";
    if (!attached && type === "text/plain") plain.push(n);
    else if (!attached && type === "text/html") html.push(n);
    else {
      const name = n.dispositionParameters?.filename ?? n.parameters?.name ?? `part-${n.part ?? "1"}`;
      attachments.push({ name: clipBytes(name, 250) || "unnamed", content_type: CONTENT_TYPE.test(type) ? type.slice(0, 255) : "application/octet-stream", size: Math.max(0, Math.min(n.size ?? 0, 100 * 1024 * 1024)) });
    }
  };
  if (root) walk(root, 0);
  return { texts: (plain.length ? plain : html).slice(0, 3), attachments };
}

/** The header block of a raw mail (at most HEADER_MAX_BYTES) with a plain-text body put in place of the original. */
function headersOnly(source: Buffer, text: string): Buffer {
  const head = source.subarray(0, HEADER_MAX_BYTES).toString("latin1");
  const end = head.search(/\r?\n\r?\n/);
  return Buffer.from(`${withoutMimeHeaders(end >= 0 ? head.slice(0, end) : head)}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}\r\n`, "latin1");
}

/** Drops the MIME headers of the original top level (the rebuilt mail declares its own). */
function withoutMimeHeaders(header: string): string {
  const out: string[] = [];
  let skip = false;
  for (const line of header.split(/\r?\n/)) {
    if (/^[ \t]/.test(line)) {
      if (!skip) out.push(line);
      continue;
    }
    skip = /^(content-[\w-]+|mime-version)\s*:/i.test(line);
    if (!skip && line) out.push(line);
  }
  return out.join("\r\n");
}

/** Dependencies of the email producer. */
export interface EmailProducerDeps {
  publisher: MessagePublisher;
  store: ChannelStore;
  limits: MessageLimits;
  log: Logger;
  /** Identifies this process as lease owner; defaults to host:pid. */
  owner?: string;
  /** The company's own mail domains: their senders may join any thread they reply to (EMAIL_COMPANY_DOMAINS). */
  companyDomains?: string[];
}

/** The durable position in one mailbox. */
export interface ImapCheckpoint {
  uidValidity: string;
  lastUid: number;
}
const ImapCheckpointSchema = Type.Object({ uidValidity: Type.String(), lastUid: Type.Integer({ minimum: 0 }) });

/** Counters a caller (tests, bench, health) can read. */
export interface EmailProducerStats {
  published: number;
  duplicates: number;
  rejected: number;
  batches: number;
  reconnects: number;
  lastError: string | null;
}

const MAX_METADATA_BYTES = 15_000;

class LeaseLost extends Error {}

/**
 * EmailProducer: one per mailbox. Syncs by UID from a durable UID/UIDVALIDITY checkpoint, waits with IDLE (or
 * polls), reconnects with jittered backoff, publishes each new mail once and then flags or moves it.
 *
 * Order per batch: fetch → parse → dedupe by Message-ID → publish → commit checkpoint + Message-IDs (one
 * transaction, fenced by the mailbox lease) → flag/move. A crash after publish and before the commit re-reads
 * that batch; its messages carry the same stable ids, so the pipeline still applies each once.
 */
export class EmailProducer {
  readonly key: string;
  readonly stats: EmailProducerStats = { published: 0, duplicates: 0, rejected: 0, batches: 0, reconnects: 0, lastError: null };
  private readonly owner: string;
  private readonly log: Logger;
  private client: ImapFlow | null = null;
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private dirty = false;
  private requested = 0;
  private syncWaiters: { generation: number; resolve: () => void }[] = [];

  constructor(private readonly o: ImapMailboxOptions, private readonly d: EmailProducerDeps) {
    if (!o.host || !o.user || !o.mailbox) throw new AppError("invalid_options", "IMAP host, user and mailbox are required");
    if (o.batchSize < 1 || o.pollMs < 10) throw new AppError("invalid_options", "IMAP batchSize must be ≥ 1 and pollMs ≥ 10");
    this.key = `imap:${o.user}@${o.host}:${o.port}/${o.mailbox}`;
    this.owner = d.owner ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
    this.log = d.log.child({ component: "email", mailbox: o.mailbox });
  }

  /** Starts the sync loop in the background; returns at once. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Asks for a sync now and resolves when a sync that started after this call has finished: everything in the
   * mailbox at call time is then on the topic (or was a duplicate). Used by the bench, tests and operators.
   */
  syncNow(): Promise<void> {
    const generation = ++this.requested;
    this.dirty = true;
    this.wake?.();
    return new Promise<void>((resolve) => this.syncWaiters.push({ generation, resolve }));
  }

  /** Stops after the batch in flight (committed or not at all), logs out and releases the lease. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    await this.loop;
    for (const w of this.syncWaiters.splice(0)) w.resolve();
    await this.d.store.releaseLease(this.key, this.owner).catch(() => {});
  }

  /** Drops the connection without logging out, as a crash or network cut would (for failure tests). */
  killConnection(): void {
    this.client?.close();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        if (!(await this.d.store.acquireLease(this.key, this.owner, this.o.leaseMs))) {
          this.log.debug("mailbox held by another replica; standing by");
          await this.sleep(Math.max(50, Math.floor(this.o.leaseMs / 3)));
          continue;
        }
        await this.session(() => (failures = 0));
      } catch (e) {
        if (!this.running) break;
        this.stats.lastError = (e as Error).message;
        this.stats.reconnects++;
        const wait = backoffMs(failures++, this.o.backoff.baseMs, this.o.backoff.maxMs);
        this.log.warn({ err: (e as Error).message, retryInMs: wait, lost_lease: e instanceof LeaseLost }, "IMAP session ended; reconnecting");
        await this.sleep(wait);
      } finally {
        const c = this.client;
        this.client = null;
        if (c) {
          if (c.usable) await c.logout().catch(() => c.close());
          else c.close();
        }
      }
    }
  }

  /** One connected session: open the mailbox, sync, then wait for news until stopped or disconnected. */
  private async session(onHealthy: () => void): Promise<void> {
    const c = new ImapFlow({
      host: this.o.host,
      port: this.o.port,
      secure: this.o.secure,
      auth: { user: this.o.user, pass: this.o.password },
      tls: { rejectUnauthorized: this.o.tlsVerify },
      logger: false,
      disableAutoIdle: !this.o.idle,
      maxIdleTime: Math.min(this.o.resyncMs, 25 * 60_000),
      connectionTimeout: 15_000,
      greetingTimeout: 10_000,
      socketTimeout: 5 * 60_000,
    });
    this.client = c;
    let closed = false;
    c.on("error", (e: Error) => this.log.warn({ err: e.message }, "IMAP connection error"));
    c.on("close", () => {
      closed = true;
      this.wake?.();
    });
    c.on("exists", () => {
      this.dirty = true;
      this.wake?.();
    });
    await c.connect();
    const lock = await c.getMailboxLock(this.o.mailbox);
    try {
      const box = c.mailbox;
      if (!box) throw new AppError("imap_no_mailbox", `mailbox ${this.o.mailbox} could not be opened`, { retriable: true });
      const useIdle = this.o.idle && c.capabilities.has("IDLE");
      const validity = String(box.uidValidity);
      const saved = await this.d.store.readCheckpoint(this.key, ImapCheckpointSchema);
      let lastUid = saved?.lastUid ?? 0;
      if (saved && saved.uidValidity !== validity) {
        // The mailbox was recreated: old UIDs mean nothing now. Re-read everything; Message-ID dedupe skips mail already seen.
        this.log.warn({ was: saved.uidValidity, now: validity }, "UIDVALIDITY changed; re-synchronising the whole mailbox");
        lastUid = 0;
      }
      this.log.info({ idle: useIdle, lastUid, uidValidity: validity }, "mailbox open");
      if (this.o.processed.mode === "move") await this.ensureMailbox(c, this.o.processed.mailbox);
      if (lastUid > 0 && saved?.uidValidity === validity) await this.reconcileProcessed(c, lastUid);
      let lastLease = Date.now();
      while (this.running && !closed) {
        this.dirty = false;
        const generation = this.requested;
        lastUid = await this.syncOnce(c, validity, lastUid);
        onHealthy();
        this.syncWaiters = this.syncWaiters.filter((w) => (w.generation <= generation ? (w.resolve(), false) : true));
        if (!this.running || closed) break;
        if (this.dirty) continue;
        const renewIn = Math.max(20, Math.floor(this.o.leaseMs / 3) - (Date.now() - lastLease));
        await this.sleep(Math.min(renewIn, useIdle ? this.o.resyncMs : this.o.pollMs));
        if (Date.now() - lastLease >= this.o.leaseMs / 3) {
          if (!(await this.d.store.acquireLease(this.key, this.owner, this.o.leaseMs))) throw new LeaseLost("mailbox lease taken by another replica");
          lastLease = Date.now();
        }
        if (!useIdle && c.usable && !this.dirty) await c.noop();
      }
      if (closed && this.running) throw new AppError("imap_closed", "IMAP connection closed", { retriable: true });
    } finally {
      lock.release();
    }
  }

  /** Reads every mail with a UID above `lastUid` in batches; returns the new checkpoint UID. */
  private async syncOnce(c: ImapFlow, validity: string, lastUid: number): Promise<number> {
    const found = await c.search({ uid: `${lastUid + 1}:*` }, { uid: true });
    // `n:*` always matches the newest mail even when its UID is below n (RFC 3501), hence the filter.
    const uids = (found || []).filter((u) => u > lastUid).sort((a, b) => a - b);
    for (let i = 0; i < uids.length && this.running; i += this.o.batchSize) {
      const chunk = uids.slice(i, i + this.o.batchSize);
      lastUid = await this.processBatch(c, validity, chunk);
    }
    return lastUid;
  }

  /**
   * Reads RFC822.SIZE first, then the batch in chunks of at most `maxMessageBytes` of sources (an oversized mail
   * counts as its text only), committing the checkpoint after each chunk: memory stays bounded and a crash re-reads
   * one chunk at most.
   */
  private async processBatch(c: ImapFlow, validity: string, uids: number[]): Promise<number> {
    const max = this.o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const sizes = new Map<number, number>();
    for await (const m of c.fetch(uids, { uid: true, size: true }, { uid: true })) sizes.set(m.uid, m.size ?? 0);
    let last = uids[0]! - 1;
    let chunk: number[] = [];
    let bytes = 0;
    for (const uid of uids) {
      if (!this.running) break;
      const size = sizes.get(uid) ?? 0;
      const cost = size > max ? TEXT_PART_MAX_BYTES + HEADER_MAX_BYTES : size;
      if (chunk.length && bytes + cost > max) {
        last = await this.processChunk(c, validity, chunk, sizes, max);
        chunk = [];
        bytes = 0;
      }
      chunk.push(uid);
      bytes += cost;
    }
    if (chunk.length) last = await this.processChunk(c, validity, chunk, sizes, max);
    return last;
  }

  /** An oversized mail: its BODYSTRUCTURE, then only the header block and the text part(s), each capped. */
  private async fetchOversized(c: ImapFlow, uid: number, size: number, fallbackId: string): Promise<ParsedEmail | null> {
    // The header block is the start of the source up to the first empty line, read within HEADER_MAX_BYTES.
    const meta = await c.fetchOne(String(uid), { uid: true, bodyStructure: true, source: { maxLength: HEADER_MAX_BYTES } }, { uid: true });
    if (!meta) return null;
    const { texts, attachments } = splitStructure(meta.bodyStructure);
    const keys = texts.map((t) => t.part ?? "1");
    const got = texts.length
      ? await c.fetchOne(
      String(uid),
          { uid: true, bodyParts: texts.map((t, i) => ({ key: keys[i]!, maxLength: Math.min(t.size ?? TEXT_PART_MAX_BYTES, TEXT_PART_MAX_BYTES) })) },
          { uid: true },
        )
      : null;
    if (!got && texts.length) return null;
    const parts = got ? got.bodyParts : undefined;
    const part = (key: string) => parts?.get(key) ?? Buffer.alloc(0);
    const boundary = `=_copilot_${Math.random().toString(36).slice(2)}`;
    const head = (meta.source ?? Buffer.alloc(0)).toString("latin1");
    const end = head.search(/\r?\n\r?\n/);
    const lines = [withoutMimeHeaders(end >= 0 ? head.slice(0, end) : head), "MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="${boundary}"`, ""];
    const chunks: Buffer[] = [Buffer.from(lines.join("\r\n") + "\r\n", "latin1")];
    texts.forEach((t, i) => {
      const charset = t.parameters?.charset && /^[\w.:-]{1,40}$/.test(t.parameters.charset) ? `; charset="${t.parameters.charset}"` : "";
      const encoding = t.encoding && /^[\w-]{1,20}$/.test(t.encoding) ? t.encoding : "7bit";
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: ${t.type}${charset}\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\n`, "latin1"), part(keys[i]!), Buffer.from("\r\n", "latin1"));
    });
    chunks.push(Buffer.from(`--${boundary}--\r\n`, "latin1"));
    const mail = await parseEmail(Buffer.concat(chunks), fallbackId);
    mail.attachments = attachments;
    mail.oversized = { size, limit: this.o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES };
    this.log.warn({ uid, size, text_parts: texts.length, attachments: attachments.length }, "oversized mail read as text part(s) and attachment list");
    return mail;
  }

  private async processChunk(c: ImapFlow, validity: string, uids: number[], sizes: Map<number, number>, max: number): Promise<number> {
    const fallback = (uid: number) => `${validity}.${uid}.${this.o.mailbox}@${this.o.host}`;
    const regular = uids.filter((u) => (sizes.get(u) ?? 0) <= max);
    const fetched: { uid: number; source: Buffer }[] = [];
    if (regular.length) {
      for await (const m of c.fetch(regular, { uid: true, source: true }, { uid: true })) {
        if (m.source) fetched.push({ uid: m.uid, source: m.source });
      }
    }
    const parsed: { uid: number; mail: ParsedEmail | null }[] = await Promise.all(
      fetched.map(async (f) => {
        try {
          return { uid: f.uid, mail: await parseEmail(f.source, fallback(f.uid)) };
        } catch (e) {
          // The MIME body is beyond the parser (a bomb, a broken structure): keep the headers, say so in the text and
          // metadata, and let it through, so the customer is not silently dropped.
          const reason = (e as Error).message.slice(0, 200);
          this.log.warn({ uid: f.uid, err: reason }, "unparseable mail; publishing its headers only");
          try {
            const mail = await parseEmail(headersOnly(f.source, "(This email could not be read; only its headers were kept.)"), fallback(f.uid));
            mail.unreadable = reason;
            return { uid: f.uid, mail };
          } catch {
            return { uid: f.uid, mail: null };
          }
        }
      }),
    );
    fetched.length = 0;
    for (const uid of uids.filter((u) => (sizes.get(u) ?? 0) > max)) {
      try {
        parsed.push({ uid, mail: await this.fetchOversized(c, uid, sizes.get(uid)!, fallback(uid)) });
      } catch (e) {
        this.log.warn({ uid, err: (e as Error).message }, "oversized mail could not be read; skipped");
        parsed.push({ uid, mail: null });
      }
    }
    parsed.sort((a, b) => a.uid - b.uid);
    const lookup = parsed.flatMap((p) => (p.mail ? [p.mail.messageId, ...(p.mail.inReplyTo ? [p.mail.inReplyTo] : []), ...p.mail.references] : []));
    const known = await this.d.store.knownEmails(lookup);
    const local = new Map<string, string>();
    // Who already takes part in each thread these mails point at (stored rows, plus earlier mails of this batch).
    const targets = parsed.flatMap((p) => (p.mail ? [resolveConversation(p.mail, (id) => known.get(id)?.conversationId)] : []));
    const participants = await this.d.store.threadParticipants(targets);
    const addParticipant = (c: string, s: string | null) => {
      if (s) (participants.get(c) ?? participants.set(c, new Set()).get(c)!).add(s);
    };
    const rows: EmailRow[] = [];
    const outgoing: { row: EmailRow; input: IncomingMessage }[] = [];
    for (const { uid, mail } of parsed) {
      if (!mail) continue;
      if (known.has(mail.messageId) || local.has(mail.messageId)) {
        this.stats.duplicates++;
        continue;
      }
      const sender = mail.from.address ? this.d.store.senderIndex(mail.from.address) : null;
      const placed = placeMail(mail, (id) => local.get(id) ?? known.get(id)?.conversationId, (c) => participants.get(c), sender, this.d.companyDomains ?? []);
      const conversationId = placed.conversationId;
      if (placed.linkedThread) this.log.info({ uid, linked_thread: placed.linkedThread }, "sender is not part of the thread it replies to: new conversation");
      local.set(mail.messageId, conversationId);
      addParticipant(conversationId, sender);
      const id = stableId(`email:${mail.messageId}`);
      const row: EmailRow = { messageIdHeader: mail.messageId, conversationId, direction: "inbound", copilotMessageId: id, mailbox: this.o.mailbox, uid, senderIndex: sender };
      rows.push(row);
      outgoing.push({ row, input: this.toIncoming(mail, id, conversationId, uid, validity, placed.linkedThread) });
    }
    await this.publishInOrder(outgoing);
    const newLast = uids[uids.length - 1]!;
    if (!(await this.d.store.commitEmailBatch(this.key, this.owner, { uidValidity: validity, lastUid: newLast } satisfies ImapCheckpoint, rows))) {
      throw new LeaseLost("mailbox lease lost before the checkpoint could be saved");
    }
    this.stats.batches++;
    await this.markProcessed(c, uids);
    return newLast;
  }

  /** Publishes conversations in parallel and the mails of one conversation in UID order. */
  private async publishInOrder(items: { row: EmailRow; input: IncomingMessage }[]): Promise<void> {
    const groups = new Map<string, { row: EmailRow; input: IncomingMessage }[]>();
    for (const it of items) {
      const g = groups.get(it.row.conversationId);
      if (g) g.push(it);
      else groups.set(it.row.conversationId, [it]);
    }
    await Promise.all(
      [...groups.values()].map(async (g) => {
        for (const it of g) {
          const res = await this.d.publisher.submit(it.input);
          if (res.ok) this.stats.published++;
          else {
            it.row.status = "rejected";
            this.stats.rejected++;
            this.log.warn({ uid: it.row.uid, code: res.error.code, err: res.error.message }, "mail rejected by validation");
          }
        }
      }),
    );
  }

  private async markProcessed(c: ImapFlow, uids: number[]): Promise<void> {
    const p = this.o.processed;
    try {
      if (p.mode === "flag") await c.messageFlagsAdd(uids, [p.flag], { uid: true });
      else if (p.mode === "move") await c.messageMove(uids, p.mailbox, { uid: true });
    } catch (e) {
      // The checkpoint already says these are done; a failed flag only changes what a person sees in the mailbox.
      this.log.warn({ err: (e as Error).message, mode: p.mode }, "could not mark processed mail");
    }
  }

  /**
   * Marks mail at or below the checkpoint that a previous session committed but could not flag or move
   * (connection cut right after the commit), so the mailbox view catches up without re-reading anything.
   */
  private async reconcileProcessed(c: ImapFlow, lastUid: number): Promise<void> {
    const p = this.o.processed;
    if (p.mode === "none") return;
    const range = `1:${lastUid}`;
    const query: Record<string, unknown> = { uid: range };
    if (p.mode === "flag") {
      const f = p.flag.toLowerCase();
      if (f === "\\seen") query.seen = false;
      else if (f === "\\flagged") query.flagged = false;
      else if (f === "\\answered") query.answered = false;
      else if (!p.flag.startsWith("\\")) query.unKeyword = p.flag;
      else return;
    }
    const found = await c.search(query, { uid: true });
    const uids = (found || []).filter((u) => u <= lastUid);
    if (uids.length) {
      this.log.info({ count: uids.length }, "marking mail committed by an earlier session");
      await this.markProcessed(c, uids);
    }
  }

  private async ensureMailbox(c: ImapFlow, path: string): Promise<void> {
    const list = await c.list();
    if (!list.some((m) => m.path === path)) await c.mailboxCreate(path).catch(() => {});
  }

  /** Builds the producer's message: the customer's new words as text, everything else under metadata. */
  private toIncoming(mail: ParsedEmail, id: string, conversationId: string, uid: number, validity: string, linkedThread: string | null = null): IncomingMessage {
    const limit = this.d.limits.maxTextChars;
    let text = mail.body || mail.quoted || mail.subject || "(empty email)";
    const truncated = text.length > limit;
    if (truncated) text = text.slice(0, limit);
    const address = mail.from.address?.toLowerCase() ?? null;
    const user: Record<string, string> = { id: address ?? `unknown-sender:${mail.messageId}`.slice(0, 256) };
    if (mail.from.name) user.name = mail.from.name.slice(0, 256);
    if (address && /^[^\s@<>()[\]\\,;:"]{1,64}@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/.test(address)) user.email = address;
    const email = {
      message_id: mail.messageId,
      ...(mail.synthesizedId ? { message_id_synthesized: true } : {}),
      in_reply_to: mail.inReplyTo,
      references: mail.references.slice(-10),
      subject: clipBytes(mail.subject, 998),
      to: mail.to.slice(0, 10),
      cc: mail.cc.slice(0, 10),
      date: mail.date,
      mailbox: this.o.mailbox,
      uid,
      uid_validity: validity,
      html_converted: mail.fromHtml,
      auto_submitted: mail.autoSubmitted,
      inline_parts: mail.inlineParts,
      ...(mail.unreadable ? { unreadable: mail.unreadable } : {}),
      ...(mail.oversized ? { oversized: { size: mail.oversized.size, limit: mail.oversized.limit, text_only: true } } : {}),
    };
    const metadata: Record<string, unknown> = { conversation_id: conversationId, email, ...(linkedThread ? { linked_thread: linkedThread } : {}), ...(truncated ? { truncated: true } : {}) };
    const fixed = Buffer.byteLength(JSON.stringify(metadata));
    const budget = MAX_METADATA_BYTES - fixed;
    if (mail.signature) metadata.signature = clipBytes(mail.signature, Math.min(1000, Math.max(0, budget / 4)));
    if (mail.quoted && mail.body) metadata.quoted = clipBytes(mail.quoted, Math.max(0, budget - Buffer.byteLength(JSON.stringify(metadata.signature ?? "")) - 200));
    return { id, source: "email", sanitize: true, user, message: { text, attachments: mail.attachments.slice(0, this.d.limits.maxAttachments) }, metadata };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        if (self.wake === done) self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }
}
