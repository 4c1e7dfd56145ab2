/**
 * A local stand-in for the X API v2 endpoints the adapter uses, following the documented shapes: mentions
 * (newest first, since_id, pagination_token/next_token, expansions=author_id), dm_events, POST /2/tweets,
 * POST /2/dm_conversations/:id/messages, and x-rate-limit-{limit,remaining,reset} headers with 429s.
 */
export interface FakeTweet {
  id: string;
  text: string;
  author_id: string;
  conversation_id: string;
  created_at: string;
}

export interface FakeDm {
  id: string;
  text: string;
  sender_id: string;
  dm_conversation_id: string;
  created_at: string;
}

export function startFakeX(opts: { token: string; userId: string }) {
  const tweets: FakeTweet[] = [];
  const dms: FakeDm[] = [];
  const users = new Map<string, { id: string; name: string; username: string }>();
  const posted: { path: string; body: unknown }[] = [];
  const calls: URL[] = [];
  let next = 1_800_000_000_000_000_000n;
  /** Remaining calls before a 429 (null = unlimited). */
  const quota = { remaining: null as number | null, resetAt: Math.floor(Date.now() / 1000) + 900, failPostsWith: null as number | null };

  const newId = () => String((next += 1000n));
  const page = <T extends { id: string }>(items: T[], url: URL, filter: (x: T) => boolean) => {
    const max = Math.min(100, Math.max(5, Number(url.searchParams.get("max_results") ?? 10)));
    const sorted = items.filter(filter).sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1));
    const start = Number(url.searchParams.get("pagination_token")?.replace("tok-", "") ?? 0);
    const slice = sorted.slice(start, start + max);
    const more = start + max < sorted.length;
    return { slice, meta: { result_count: slice.length, ...(slice.length ? { newest_id: slice[0]!.id, oldest_id: slice[slice.length - 1]!.id } : {}), ...(more ? { next_token: `tok-${start + max}` } : {}) } };
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      calls.push(url);
      if (req.headers.get("authorization") !== `Bearer ${opts.token}`) return Response.json({ title: "Unauthorized", status: 401 }, { status: 401 });
      const limitHeaders = () => ({
        "x-rate-limit-limit": "180",
        "x-rate-limit-remaining": String(quota.remaining ?? 179),
        "x-rate-limit-reset": String(quota.resetAt),
      });
      if (quota.remaining !== null) {
        if (quota.remaining <= 0) return Response.json({ title: "Too Many Requests", detail: "Too Many Requests", type: "about:blank", status: 429 }, { status: 429, headers: { ...limitHeaders(), "x-rate-limit-remaining": "0" } });
        quota.remaining--;
      }
      const mentions = url.pathname.match(/^\/2\/users\/(\d+)\/mentions$/);
      if (req.method === "GET" && mentions) {
        const since = url.searchParams.get("since_id");
        const { slice, meta } = page(tweets, url, (t) => !since || BigInt(t.id) > BigInt(since));
        const ids = new Set(slice.map((t) => t.author_id));
        return Response.json({ ...(slice.length ? { data: slice, includes: { users: [...ids].map((i) => users.get(i)).filter(Boolean) } } : {}), meta }, { headers: limitHeaders() });
      }
      if (req.method === "GET" && url.pathname === "/2/dm_events") {
        const { slice, meta } = page(dms, url, () => true);
        const ids = new Set(slice.map((d) => d.sender_id));
        return Response.json(
          { ...(slice.length ? { data: slice.map((d) => ({ ...d, event_type: "MessageCreate" })), includes: { users: [...ids].map((i) => users.get(i)).filter(Boolean) } } : {}), meta },
          { headers: limitHeaders() },
        );
      }
      if (req.method === "POST" && (url.pathname === "/2/tweets" || /^\/2\/dm_conversations\/[^/]+\/messages$/.test(url.pathname))) {
        const body = await req.json();
        if (quota.failPostsWith) return Response.json({ title: "error" }, { status: quota.failPostsWith });
        posted.push({ path: url.pathname, body });
        const id = newId();
        return Response.json(url.pathname === "/2/tweets" ? { data: { id, text: (body as { text: string }).text } } : { data: { dm_conversation_id: url.pathname.split("/")[3], dm_event_id: id } }, { status: 201, headers: limitHeaders() });
      }
      return Response.json({ title: "Not Found" }, { status: 404 });
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    quota,
    posted,
    calls,
    addUser(id: string, username: string, name: string) {
      users.set(id, { id, username, name });
    },
    mention(authorId: string, text: string, conversationId?: string): FakeTweet {
      const id = newId();
      const t = { id, text, author_id: authorId, conversation_id: conversationId ?? id, created_at: new Date().toISOString() };
      tweets.push(t);
      return t;
    },
    dm(senderId: string, text: string, conversationId: string): FakeDm {
      const d = { id: newId(), text, sender_id: senderId, dm_conversation_id: conversationId, created_at: new Date().toISOString() };
      dms.push(d);
      return d;
    },
    stop: () => server.stop(true),
  };
}
