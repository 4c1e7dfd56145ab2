import type { EnvReader } from "./reader.ts";
import type { Config } from "./types.ts";

/** IMAP_*, SMTP_*, X_*, SOCIAL_WEBHOOK_*, REPLY_*: customer channels beyond chat and the reply service. */
export function channelsSection(r: EnvReader): Config["channels"] {
  let imap: Config["channels"]["imap"] = null;
  const imapHost = r.str("IMAP_HOST", "");
  if (imapHost) {
    const secure = r.bool("IMAP_SECURE", true);
    const user = r.str("IMAP_USER", "");
    const password = r.secret("IMAP_PASSWORD") ?? "";
    if (!user || !password) r.problem("IMAP_USER and IMAP_PASSWORD (or IMAP_PASSWORD_FILE) are required with IMAP_HOST");
    const mode = r.oneOf("IMAP_PROCESSED", "flag", ["flag", "move", "none"] as const);
    imap = {
      host: imapHost,
      port: r.int("IMAP_PORT", secure ? 993 : 143, 1, 65535),
      secure,
      tlsVerify: r.bool("IMAP_TLS_VERIFY", true),
      user,
      password,
      mailboxes: r.list("IMAP_MAILBOXES", "INBOX"),
      processed: mode === "flag" ? { mode, flag: r.str("IMAP_PROCESSED_FLAG", "\\Seen") } : mode === "move" ? { mode, mailbox: r.str("IMAP_PROCESSED_MAILBOX", "Processed") } : { mode },
      idle: r.bool("IMAP_IDLE", true),
      pollSeconds: r.int("IMAP_POLL_SECONDS", 60, 1, 3600),
      batchSize: r.int("IMAP_BATCH_SIZE", 100, 1, 1000),
    };
  }
  let smtp: Config["channels"]["smtp"] = null;
  const smtpHost = r.str("SMTP_HOST", "");
  if (smtpHost) {
    const secure = r.bool("SMTP_SECURE", false);
    const from = r.str("SMTP_FROM", imap?.user ?? "");
    if (!from.includes("@")) r.problem("SMTP_FROM (an email address, optionally with a display name) is required with SMTP_HOST");
    smtp = { host: smtpHost, port: r.int("SMTP_PORT", secure ? 465 : 587, 1, 65535), secure, tlsVerify: r.bool("SMTP_TLS_VERIFY", true), user: r.str("SMTP_USER", "") || null, password: r.secret("SMTP_PASSWORD") ?? null, from };
  }
  let x: Config["channels"]["x"] = null;
  const xToken = r.secret("X_BEARER_TOKEN");
  if (xToken) {
    const userId = r.str("X_USER_ID", "");
    if (!/^\d{1,20}$/.test(userId)) r.problem("X_USER_ID (the support account's numeric id) is required with X_BEARER_TOKEN");
    x = { baseUrl: r.url("X_API_BASE", ["http:", "https:"]) ?? "https://api.twitter.com", bearerToken: xToken, userId, pollSeconds: r.int("X_POLL_SECONDS", 60, 5, 3600), mentions: r.bool("X_MENTIONS", true), dms: r.bool("X_DMS", true) };
  }
  const pairs = (name: string): [string, string][] =>
    (r.secret(name) ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => {
        const i = p.indexOf("=");
        if (i <= 0) r.problem(`${name} entries must be name=value`);
        return [p.slice(0, i).trim(), p.slice(i + 1).trim()];
      });
  const secrets: Record<string, string[]> = {};
  for (const [name, value] of pairs("SOCIAL_WEBHOOK_SECRETS")) {
    if (!/^[a-z0-9_-]{1,64}$/.test(name)) r.problem(`SOCIAL_WEBHOOK_SECRETS: source name ${JSON.stringify(name)} must be [a-z0-9_-]`);
    const list = value.split("|").filter(Boolean);
    if (list.some((v) => v.length < 16)) r.problem(`SOCIAL_WEBHOOK_SECRETS: every secret of ${name} must be at least 16 characters`);
    secrets[name] = list;
  }
  const replyUrls: Record<string, string> = {};
  for (const [name, value] of pairs("SOCIAL_WEBHOOK_REPLY_URLS")) {
    if (!secrets[name]) r.problem(`SOCIAL_WEBHOOK_REPLY_URLS names ${name}, which has no secret in SOCIAL_WEBHOOK_SECRETS`);
    if (!/^https?:\/\//.test(value)) r.problem(`SOCIAL_WEBHOOK_REPLY_URLS: ${name} must be an http(s) URL`);
    replyUrls[name] = value;
  }
  return {
    imap,
    smtp,
    x,
    webhooks: { secrets, replyUrls, toleranceSeconds: r.int("SOCIAL_WEBHOOK_TOLERANCE_SECONDS", 300, 5, 3600) },
    replies: { maxAttempts: r.int("REPLY_MAX_ATTEMPTS", 5, 1, 50), autoSend: r.bool("REPLY_AUTO_SEND", true) },
  };
}
