import { AppError } from "../../errors.ts";
import { compareIds, RateLimited, type PollingSource, type PollPage, type SocialPost, type SocialReplier, type SocialReplyTarget } from "./types.ts";

/** How to reach the X API v2 as the support account. */
export interface XOptions {
  /** `https://api.twitter.com` (or `https://api.x.com`); tests point it at a local server. */
  baseUrl: string;
  /** OAuth 2.0 user-context access token of the support account (mentions and DMs need user context). */
  bearerToken: string;
  /** Numeric id of the support account. */
  userId: string;
  intervalMs: number;
  /** Page size, 5..100. */
  maxResults: number;
  /** Safety bound on pages followed in one poll. */
  maxPages: number;
  fetch?: typeof fetch;
}

interface XUser {
  id: string;
  name?: string;
  username?: string;
}

interface XPageMeta {
  newest_id?: string;
  oldest_id?: string;
  result_count?: number;
  next_token?: string;
}

/** A thin X API v2 client: authorisation, JSON, and 429 / x-rate-limit-* handling. */
export class XClient {
  private readonly fetchFn: typeof fetch;
  constructor(readonly o: XOptions) {
    if (!o.bearerToken || !o.userId) throw new AppError("invalid_options", "X bearer token and user id are required");
    this.fetchFn = o.fetch ?? fetch;
  }

  /** Calls the API; a 429 becomes RateLimited with the reset time, other failures an AppError saying whether to retry. */
  async call<T>(method: "GET" | "POST", path: string, opts: { query?: Record<string, string | undefined>; body?: unknown; signal?: AbortSignal } = {}): Promise<{ body: T; quotaResetAt: number | null }> {
    const url = new URL(path, this.o.baseUrl);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method,
        headers: { authorization: `Bearer ${this.o.bearerToken}`, ...(opts.body ? { "content-type": "application/json" } : {}) },
        body: opts.body ? JSON.stringify(opts.body) : undefined,
        signal: opts.signal,
      });
    } catch (e) {
      // A refused connection sent nothing; any other network failure may have reached X (a POST could have posted).
      const refused = /ConnectionRefused|ECONNREFUSED|ENOTFOUND|Unable to connect/i.test(`${(e as { code?: string }).code ?? ""} ${(e as Error).message}`);
      throw new AppError("x_unreachable", `X API unreachable: ${(e as Error).message}`, { status: 503, retriable: true, cause: e, details: { maybe_sent: method === "POST" && !refused } });
    }
    const reset = Number(res.headers.get("x-rate-limit-reset"));
    const resetAt = Number.isFinite(reset) && reset > 0 ? reset * 1000 : null;
    if (res.status === 429) {
      const retryAfter = Number(res.headers.get("retry-after"));
      await res.body?.cancel();
      throw new RateLimited(resetAt ?? Date.now() + (Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 60_000), `X API rate limit reached on ${path}`);
    }
    const text = await res.text();
    if (!res.ok) {
      throw new AppError("x_error", `X API ${method} ${url.pathname} → ${res.status}: ${text.slice(0, 300)}`, { status: 502, retriable: res.status >= 500 || res.status === 408 });
    }
    const remaining = res.headers.get("x-rate-limit-remaining");
    return { body: (text ? JSON.parse(text) : {}) as T, quotaResetAt: remaining === "0" ? resetAt : null };
  }
}

/**
 * Mentions of the support account (`GET /2/users/:id/mentions`), checkpointed by since_id. The API answers
 * newest first and pages backwards with `pagination_token`; every page is read before the cursor moves, so a
 * crash or a 429 mid-way re-reads rather than skips. With no cursor yet only the newest page is taken.
 */
export class XMentionsSource implements PollingSource {
  readonly name: string;
  readonly intervalMs: number;
  constructor(private readonly x: XClient) {
    this.name = `x:mentions:${x.o.userId}`;
    this.intervalMs = x.o.intervalMs;
  }

  async poll(cursor: string | null, signal: AbortSignal): Promise<PollPage> {
    const posts: SocialPost[] = [];
    let token: string | undefined;
    let newest = cursor;
    let waitUntil: number | undefined;
    for (let page = 0; page < this.x.o.maxPages; page++) {
      const { body, quotaResetAt } = await this.x.call<{ data?: XTweet[]; includes?: { users?: XUser[] }; meta?: XPageMeta }>("GET", `/2/users/${this.x.o.userId}/mentions`, {
        query: {
          since_id: cursor ?? undefined,
          pagination_token: token,
          max_results: String(this.x.o.maxResults),
          "tweet.fields": "author_id,conversation_id,created_at,in_reply_to_user_id,referenced_tweets",
          expansions: "author_id",
          "user.fields": "name,username",
        },
        signal,
      });
      if (quotaResetAt) waitUntil = quotaResetAt;
      const users = new Map((body.includes?.users ?? []).map((u) => [u.id, u]));
      for (const t of body.data ?? []) posts.push(tweetToPost(t, users));
      if (body.meta?.newest_id && (!newest || compareIds(body.meta.newest_id, newest) > 0)) newest = body.meta.newest_id;
      token = body.meta?.next_token;
      if (!token || !cursor) break;
      if (waitUntil) throw new RateLimited(waitUntil, "X quota spent while paging mentions");
    }
    const fresh = posts.filter((p) => !cursor || compareIds(p.id, cursor) > 0);
    fresh.sort((a, b) => compareIds(a.id, b.id));
    return { posts: fresh, cursor: newest, waitUntil };
  }
}

interface XTweet {
  id: string;
  text: string;
  author_id?: string;
  conversation_id?: string;
  created_at?: string;
  referenced_tweets?: { type: string; id: string }[];
}

function tweetToPost(t: XTweet, users: Map<string, XUser>): SocialPost {
  const u = t.author_id ? users.get(t.author_id) : undefined;
  const parent = t.referenced_tweets?.find((r) => r.type === "replied_to")?.id;
  return {
    network: "x",
    kind: "mention",
    id: t.id,
    author: { id: t.author_id ?? "unknown", ...(u?.username ? { handle: u.username } : {}), ...(u?.name ? { name: u.name } : {}) },
    text: t.text,
    thread: t.conversation_id ?? t.id,
    ...(parent ? { inReplyTo: parent } : {}),
    ...(u?.username ? { url: `https://x.com/${u.username}/status/${t.id}` } : {}),
    ...(t.created_at ? { createdAt: t.created_at } : {}),
  };
}

interface XDmEvent {
  id: string;
  event_type: string;
  text?: string;
  sender_id?: string;
  dm_conversation_id?: string;
  created_at?: string;
}

/**
 * Direct messages to the support account (`GET /2/dm_events`). That endpoint has no since_id, so the source
 * pages newest-first until it reaches the last event id it saw (the cursor); the account's own messages are skipped.
 */
export class XDirectMessagesSource implements PollingSource {
  readonly name: string;
  readonly intervalMs: number;
  constructor(private readonly x: XClient) {
    this.name = `x:dms:${x.o.userId}`;
    this.intervalMs = x.o.intervalMs;
  }

  async poll(cursor: string | null, signal: AbortSignal): Promise<PollPage> {
    const events: XDmEvent[] = [];
    const users = new Map<string, XUser>();
    let token: string | undefined;
    let waitUntil: number | undefined;
    let reached = false;
    for (let page = 0; page < this.x.o.maxPages && !reached; page++) {
      const { body, quotaResetAt } = await this.x.call<{ data?: XDmEvent[]; includes?: { users?: XUser[] }; meta?: XPageMeta }>("GET", "/2/dm_events", {
        query: {
          event_types: "MessageCreate",
          pagination_token: token,
          max_results: String(this.x.o.maxResults),
          "dm_event.fields": "id,text,event_type,dm_conversation_id,created_at,sender_id",
          expansions: "sender_id",
          "user.fields": "name,username",
        },
        signal,
      });
      if (quotaResetAt) waitUntil = quotaResetAt;
      for (const u of body.includes?.users ?? []) users.set(u.id, u);
      for (const e of body.data ?? []) {
        if (cursor && compareIds(e.id, cursor) <= 0) {
          reached = true;
          break;
        }
        events.push(e);
      }
      token = body.meta?.next_token;
      if (!token || !cursor) break;
      if (!reached && waitUntil) throw new RateLimited(waitUntil, "X quota spent while paging DMs");
    }
    const newest = events.reduce<string | null>((m, e) => (!m || compareIds(e.id, m) > 0 ? e.id : m), cursor);
    const posts = events
      .filter((e) => e.event_type === "MessageCreate" && e.sender_id !== this.x.o.userId && e.text)
      .sort((a, b) => compareIds(a.id, b.id))
      .map((e): SocialPost => {
        const u = e.sender_id ? users.get(e.sender_id) : undefined;
        return {
          network: "x",
          kind: "dm",
          id: e.id,
          author: { id: e.sender_id ?? "unknown", ...(u?.username ? { handle: u.username } : {}), ...(u?.name ? { name: u.name } : {}) },
          text: e.text!,
          thread: e.dm_conversation_id ?? `dm-${e.sender_id}`,
          ...(e.created_at ? { createdAt: e.created_at } : {}),
        };
      });
    return { posts, cursor: newest, waitUntil };
  }
}

/** Replies on X: a reply tweet to a mention (`POST /2/tweets`), or a DM into the conversation (`POST /2/dm_conversations/:id/messages`). */
export class XReplier implements SocialReplier {
  readonly network = "x";
  constructor(private readonly x: XClient) {}

  async reply(target: SocialReplyTarget, text: string): Promise<{ externalId: string | null }> {
    if (target.kind === "dm") {
      const { body } = await this.x.call<{ data?: { dm_event_id?: string } }>("POST", `/2/dm_conversations/${encodeURIComponent(target.thread)}/messages`, { body: { text } });
      return { externalId: body.data?.dm_event_id ?? null };
    }
    const { body } = await this.x.call<{ data?: { id?: string } }>("POST", "/2/tweets", { body: { text, reply: { in_reply_to_tweet_id: target.postId } } });
    return { externalId: body.data?.id ?? null };
  }
}
