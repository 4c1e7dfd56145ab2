import type { FeedFilters } from "../src/dashboard/filters.ts";
import { RANGES } from "../src/dashboard/filters.ts";
import type { FeedItem } from "../src/dashboard/queries.ts";
import { URGENT } from "../src/dashboard/queries.ts";
import { SOURCES } from "../src/schema/message.ts";
import { BASE } from "./layout.tsx";

/** A short relative-or-clock time; the full timestamp is in the title attribute. */
export function Time(p: { at: Date }): JSX.Element {
  const iso = p.at.toISOString();
  const today = iso.slice(0, 10) === new Date().toISOString().slice(0, 10);
  return (
    <time datetime={iso} title={iso}>
      {today ? iso.slice(11, 19) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`}
    </time>
  );
}

/** A labelled badge; the CSS class is derived from a closed set so user data never becomes a class name. */
export function Badge(p: { kind: "channel" | "intent" | "sentiment" | "urgency" | "state"; value: string | null; extra?: string }): JSX.Element {
  if (!p.value) return "";
  const tone = TONES[p.value] ?? "neutral";
  return (
    <span class={`badge ${p.kind} tone-${tone}`} title={p.kind}>
      <span safe>{p.value}</span>
      {p.extra ? (
        <span class="conf" safe>
          {p.extra}
        </span>
      ) : (
        ""
      )}
    </span>
  );
}

const TONES: Record<string, string> = {
  negative: "bad",
  frustrated: "bad",
  angry: "bad",
  positive: "good",
  neutral: "neutral",
  high: "bad",
  critical: "bad",
  medium: "warn",
  low: "neutral",
  approved: "good",
  edited: "good",
  auto_sent: "good",
  rejected: "bad",
  draft: "warn",
  email: "blue",
  chat: "blue",
  social: "blue",
};

/** First line of a message, trimmed for the feed. */
export function firstLine(text: string, max = 140): string {
  const line = text.split(/\r?\n/).find((l) => l.trim() !== "") ?? "";
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** One feed line; its id lets later updates (decisions) replace it in place. */
export function FeedRow(p: { item: FeedItem }): JSX.Element {
  const it = p.item;
  const urgent = it.urgency !== null && URGENT.includes(it.urgency);
  const href = `${BASE}/conversations/${encodeURIComponent(it.conversationId)}?m=${it.messageId}`;
  return (
    <li id={`msg-${it.messageId}`} class={`feed-row${urgent ? " urgent" : ""}`} data-urgent={urgent ? "true" : "false"}>
      <a class="row-link" href={href}>
        <span class="when">
          <Time at={it.processedAt} />
        </span>
        <span class="badges">
          <Badge kind="channel" value={it.channel} />
          <Badge kind="intent" value={it.intent} extra={it.intentConfidence !== null ? `${Math.round(it.intentConfidence * 100)}%` : undefined} />
          <Badge kind="sentiment" value={it.sentiment} />
          <Badge kind="urgency" value={it.urgency} />
          <Badge kind="state" value={it.replyState} />
          {it.degraded ? (
            <span class="badge tone-warn" title="a worker failed; see the conversation">
              degraded
            </span>
          ) : (
            ""
          )}
        </span>
        <span class="customer" safe>
          {it.customerName ?? it.customerId}
        </span>
        <span class="text" safe>
          {firstLine(it.text)}
        </span>
      </a>
    </li>
  );
}

/** The fragment that puts a new row at the top of the feed (pushed over the live socket). */
export function FeedPrepend(p: { item: FeedItem }): JSX.Element {
  return (
    <div hx-swap-oob="afterbegin:#feed">
      <FeedRow item={p.item} />
    </div>
  );
}

/** The fragment that replaces a row already on screen (after a decision). */
export function FeedReplace(p: { item: FeedItem }): JSX.Element {
  return (
    <div hx-swap-oob={`outerHTML:#msg-${p.item.messageId}`}>
      <FeedRow item={p.item} />
    </div>
  );
}

function Select(p: { name: string; label: string; value?: string; options: string[] }): JSX.Element {
  return (
    <label>
      <span safe>{p.label}</span>
      <select name={p.name}>
        <option value="">any</option>
        {p.options.map((o) => (
          <option value={o} selected={o === p.value}>
            {Bun.escapeHTML(o)}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The live feed with its filter bar; filters are plain GET parameters so the URL is shareable. */
export function FeedPage(p: { items: FeedItem[]; filters: FeedFilters; facets: { intents: string[]; sentiments: string[]; urgencies: string[] } }): JSX.Element {
  const f = p.filters;
  const withCurrent = (list: string[], v?: string) => (v && !list.includes(v) ? [...list, v] : list);
  return (
    <section class="feed-page">
      <h1>Live feed</h1>
      <form class="filters" method="get" action={BASE} role="search" aria-label="Filter the feed">
        <Select name="channel" label="Channel" value={f.channel} options={[...SOURCES]} />
        <Select name="intent" label="Intent" value={f.intent} options={withCurrent(p.facets.intents, f.intent)} />
        <Select name="sentiment" label="Sentiment" value={f.sentiment} options={withCurrent(p.facets.sentiments, f.sentiment)} />
        <Select name="urgency" label="Urgency" value={f.urgency} options={withCurrent(["low", "medium", "high", "critical", ...p.facets.urgencies].filter((v, i, a) => a.indexOf(v) === i), f.urgency)} />
        <label>
          Time
          <select name="range">
            {Object.keys(RANGES).map((r) => (
              <option value={r} selected={r === f.range}>
                {r === "all" ? "all time" : `last ${r}`}
              </option>
            ))}
          </select>
        </label>
        <label class="grow">
          Search
          <input type="search" name="q" value={f.q ?? ""} placeholder="text or customer" />
        </label>
        <button type="submit">Apply</button>
        <a href={BASE} class="reset">
          Reset
        </a>
      </form>
      <ol id="feed" class="feed" aria-live="polite" aria-label="Messages, newest first">
        {p.items.map((it) => (
          <FeedRow item={it} />
        ))}
      </ol>
      {p.items.length === 0 ? (
        <p class="empty" id="feed-empty">
          No messages match these filters yet. New ones appear here as they are processed.
        </p>
      ) : (
        ""
      )}
    </section>
  );
}
