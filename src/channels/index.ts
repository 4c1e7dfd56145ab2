import nodemailer from "nodemailer";
import type { EventBus } from "../bus/interface.ts";
import type { Config } from "../config.ts";
import type { Store } from "../db/store.ts";
import type { MessagePublisher } from "../ingest/publisher.ts";
import type { Logger } from "../obs/log.ts";
import type { ResultHub } from "../realtime/hub.ts";
import { EmailProducer } from "./email/imap.ts";
import { ChatDeliverer, EmailDeliverer, SocialDeliverer } from "./replies/deliverers.ts";
import { replyRoutes } from "./replies/routes.ts";
import { ReplyService } from "./replies/service.ts";
import { ReplySweeper } from "./replies/sweeper.ts";
import type { Outbox } from "../outbox/outbox.ts";
import type { ReplyDeliverer } from "./replies/types.ts";
import { SocialPoller } from "./social/poller.ts";
import type { PollingSource, SocialReplier } from "./social/types.ts";
import { WebhookReplier, webhookRoutes } from "./social/webhook.ts";
import { XClient, XDirectMessagesSource, XMentionsSource, XReplier } from "./social/x.ts";
import { ChannelStore } from "./store.ts";
import type { AbuseGuard } from "../ratelimit/guard.ts";

/** What the runtime hands the channels. */
export interface ChannelDeps {
  config: Config;
  store: Store;
  bus: EventBus;
  publisher: MessagePublisher;
  hub: ResultHub;
  log: Logger;
  /** Abuse limits for the webhook and reply routes (a per-process default when omitted). */
  guard?: AbuseGuard;
  /** Extra polling sources and repliers (networks added without touching this module). */
  extraSources?: PollingSource[];
  extraRepliers?: SocialReplier[];
  /** The process's outbox: when given, a sweeper sends approved replies that no hub sent. */
  outbox?: Outbox;
}

/** The running channels: their HTTP routes, the reply service, the producers, and one stop for all. */
export interface Channels {
  routes: [ReturnType<typeof webhookRoutes>, ReturnType<typeof replyRoutes>];
  replies: ReplyService;
  email: EmailProducer[];
  social: SocialPoller | null;
  stop(): Promise<void>;
}

/**
 * Starts every configured channel: one EmailProducer per IMAP mailbox, the social poller (X and extra sources),
 * the signed webhook endpoint, and the reply service (SMTP, chat, social) listening for approved replies.
 */
export function startChannels(d: ChannelDeps): Channels {
  const { config, log } = d;
  const c = config.channels;
  const store = new ChannelStore(d.store.db);

  const email = (c.imap?.mailboxes ?? []).map(
    (mailbox) =>
      new EmailProducer(
        {
          host: c.imap!.host,
          port: c.imap!.port,
          secure: c.imap!.secure,
          tlsVerify: c.imap!.tlsVerify,
          user: c.imap!.user,
          password: c.imap!.password,
          mailbox,
          processed: c.imap!.processed,
          idle: c.imap!.idle,
          pollMs: c.imap!.pollSeconds * 1000,
          resyncMs: 5 * 60_000,
          batchSize: c.imap!.batchSize,
          backoff: { baseMs: 1000, maxMs: 5 * 60_000 },
          leaseMs: 60_000,
          maxMessageBytes: config.resilience.imapMaxMessageBytes,
        },
        { publisher: d.publisher, store, limits: config.limits, log, companyDomains: config.privacy.emailCompanyDomains },
      ),
  );

  const sources: PollingSource[] = [...(d.extraSources ?? [])];
  const repliers: SocialReplier[] = [...(d.extraRepliers ?? [])];
  if (c.x) {
    const x = new XClient({ baseUrl: c.x.baseUrl, bearerToken: c.x.bearerToken, userId: c.x.userId, intervalMs: c.x.pollSeconds * 1000, maxResults: 100, maxPages: 20 });
    if (c.x.mentions) sources.push(new XMentionsSource(x));
    if (c.x.dms) sources.push(new XDirectMessagesSource(x));
    repliers.push(new XReplier(x));
  }
  for (const [name, url] of Object.entries(c.webhooks.replyUrls)) repliers.push(new WebhookReplier(name, url, c.webhooks.secrets[name]![0]!));
  const social = sources.length ? new SocialPoller(sources, { publisher: d.publisher, store, limits: config.limits, log }) : null;

  const deliverers: ReplyDeliverer[] = [new ChatDeliverer(d.bus, config.topics.responses), new SocialDeliverer(repliers)];
  if (c.smtp) {
    const transport = nodemailer.createTransport({
      host: c.smtp.host,
      port: c.smtp.port,
      secure: c.smtp.secure,
      requireTLS: !c.smtp.secure && c.smtp.user !== null,
      tls: { rejectUnauthorized: c.smtp.tlsVerify },
      ...(c.smtp.user ? { auth: { user: c.smtp.user, pass: c.smtp.password ?? "" } } : {}),
      connectionTimeout: 15_000,
      socketTimeout: 60_000,
    });
    deliverers.push(new EmailDeliverer(transport, { from: c.smtp.from }, store));
  }
  const replies = new ReplyService(store, deliverers, { maxAttempts: c.replies.maxAttempts, backoff: { baseMs: 5000, maxMs: 10 * 60_000 }, retryIntervalMs: 5000, staleSendingMs: 10 * 60_000 }, log);

  for (const p of email) p.start();
  social?.start();
  replies.start();
  const offResults = c.replies.autoSend ? d.hub.onAny((ev) => replies.onResultEvent(ev)) : () => {};
  const sweeper = d.outbox
    ? new ReplySweeper(d.outbox, replies, { graceMs: config.outbox.sweepGraceMs, intervalMs: config.outbox.sweepIntervalMs, batchSize: 100, autoSend: c.replies.autoSend }, log)
    : null;
  sweeper?.start();
  if (email.length || sources.length || c.smtp) log.info({ mailboxes: email.length, social_sources: sources.map((s) => s.name), smtp: !!c.smtp, webhooks: Object.keys(c.webhooks.secrets) }, "channels started");

  return {
    routes: [
      webhookRoutes({ publisher: d.publisher, store, limits: config.limits, log, secrets: c.webhooks.secrets, toleranceSeconds: c.webhooks.toleranceSeconds, guard: d.guard, maxBodyBytes: config.resilience.httpMaxBodyBytes }),
      replyRoutes({ replies, store, apiKeys: config.apiKeys, guard: d.guard }),
    ],
    replies,
    email,
    social,
    /** Stops producers first (each finishes or abandons its batch uncommitted), then the reply loop. */
    async stop() {
      offResults();
      await sweeper?.stop();
      await Promise.all([...email.map((p) => p.stop()), social?.stop()]);
      await replies.stop();
    },
  };
}
