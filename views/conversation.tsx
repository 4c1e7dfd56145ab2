import { entitiesOf, intentOf, knowledgeOf, replyOf, sentimentOf } from "../src/dashboard/outputs.ts";
import { Badge, Time } from "./feed.tsx";
import { BASE } from "./layout.tsx";

/** One customer message of the thread with what the pipeline and the agents did with it. */
export interface ThreadEntry {
  id: string;
  conversationId: string;
  channel: string;
  customerId: string;
  customerName: string | null;
  text: string;
  receivedAt: Date;
  outputs: Record<string, unknown> | null;
  failures: { worker: string; code: string; message: string }[];
  degraded: boolean;
  decision: { action: string; finalText: string | null; reason: string | null; at: Date } | null;
}

/** A correction an agent made to a worker's label. */
export interface Correction {
  field: string;
  previous: string | null;
  value: string;
  by: string | null;
  at: Date;
}

const pct = (x: number | null) => (x === null ? "" : `${Math.round(x * 100)}%`);

/** A message bubble in the thread (customer side), followed by the reply that went out, if any. */
export function Bubble(p: { e: ThreadEntry; selected: boolean }): JSX.Element {
  const e = p.e;
  const reply = e.outputs ? replyOf(e.outputs) : null;
  const sent = e.decision && e.decision.action !== "rejected" ? e.decision.finalText : reply?.status === "auto_sent" ? reply.text : null;
  return (
    <li id={`bubble-${e.id}`} class={`bubble-pair${p.selected ? " selected" : ""}`}>
      <a class="bubble customer" href={`${BASE}/conversations/${encodeURIComponent(e.conversationId)}?m=${e.id}`} aria-current={p.selected ? "true" : undefined}>
        <span class="meta">
          <Badge kind="channel" value={e.channel} /> <Time at={e.receivedAt} />
        </span>
        <span class="body" safe>
          {e.text}
        </span>
      </a>
      {sent ? (
        <div class="bubble agent">
          <span class="meta">
            reply <Time at={e.decision?.at ?? e.receivedAt} />
          </span>
          <span class="body" safe>
            {sent}
          </span>
        </div>
      ) : (
        ""
      )}
    </li>
  );
}

/** Every worker's output for one message, the draft with its actions, and the relabel form. */
export function Details(p: { e: ThreadEntry; corrections: Correction[]; intents: string[] }): JSX.Element {
  const e = p.e;
  const o = e.outputs ?? {};
  const intent = intentOf(o);
  const sentiment = sentimentOf(o);
  const entities = entitiesOf(o);
  const knowledge = knowledgeOf(o);
  return (
    <section id={`details-${e.id}`} class="details" aria-label="Analysis of the selected message">
      {e.outputs === null ? <p class="muted">This message is still being processed.</p> : ""}
      {e.failures.length ? (
        <div class="panel warn">
          <h3>Degraded result</h3>
          <ul>
            {e.failures.map((f) => (
              <li>
                <strong safe>{f.worker}</strong>: <code safe>{f.code}</code> <span safe>{f.message}</span>
              </li>
            ))}
          </ul>
        </div>
      ) : (
        ""
      )}
      <div class="panel">
        <h3>Intent</h3>
        {intent ? (
          <div>
            <Badge kind="intent" value={intent.label} extra={pct(intent.confidence)} />
            {intent.top.length ? (
              <ol class="top">
                {intent.top.map((t) => (
                  <li>
                    <span safe>{t.label}</span>
                    <meter min={0} max={1} value={t.score} aria-label={`${t.label} confidence`}></meter>
                    <span class="num">{pct(t.score)}</span>
                  </li>
                ))}
              </ol>
            ) : (
              ""
            )}
          </div>
        ) : (
          <p class="muted">No intent output.</p>
        )}
      </div>
      <div class="panel">
        <h3>Sentiment and urgency</h3>
        {sentiment ? (
          <div>
            <Badge kind="sentiment" value={sentiment.label} extra={sentiment.score !== null ? pct(sentiment.score) : undefined} /> <Badge kind="urgency" value={sentiment.urgency} />
            {sentiment.reasons.length ? (
              <ul class="reasons">
                {sentiment.reasons.map((r) => (
                  <li safe>{r}</li>
                ))}
              </ul>
            ) : (
              ""
            )}
          </div>
        ) : (
          <p class="muted">No sentiment output.</p>
        )}
      </div>
      <div class="panel">
        <h3>Entities</h3>
        {entities.length ? (
          <dl class="entities">
            {entities.map((x) => (
              <>
                <dt safe>{x.type}</dt>
                <dd safe>{x.value}</dd>
              </>
            ))}
          </dl>
        ) : (
          <p class="muted">None found.</p>
        )}
      </div>
      <div class="panel">
        <h3>Knowledge</h3>
        {knowledge === null ? (
          <p class="muted">No retrieval output.</p>
        ) : knowledge.passages.length === 0 || knowledge.abstained ? (
          <p class="muted" safe>{`Retrieval abstained: ${knowledge.reason ?? "the knowledge base has no confident answer"}.`}</p>
        ) : (
          ""
        )}
        {knowledge?.passages.length ? (
          <ol class="passages">
            {knowledge.passages.map((x) => (
              <li>
                <div class="passage-head">
                  <code safe>{x.id}</code> <span safe>{x.title ?? ""}</span> <span class="muted" safe>{x.source ?? ""}</span>
                  {x.score !== null ? <span class="num">{x.score.toFixed(3)}</span> : ""}
                </div>
                <p safe>{x.text.length > 600 ? `${x.text.slice(0, 600)}…` : x.text}</p>
              </li>
            ))}
          </ol>
        ) : (
          ""
        )}
        {knowledge?.guidance.length ? (
          <>
            <h4>Guidance (internal)</h4>
            <p class="muted">For you, not for the customer: never quoted or cited in a reply.</p>
            <ol class="passages guidance">
              {knowledge.guidance.map((x) => (
                <li>
                  <div class="passage-head">
                    <span safe>{x.title ?? ""}</span> <span class="muted" safe>{x.source ?? ""}</span>
                  </div>
                  <p safe>{x.text.length > 600 ? `${x.text.slice(0, 600)}…` : x.text}</p>
                </li>
              ))}
            </ol>
          </>
        ) : (
          ""
        )}
      </div>
      <Draft e={e} />
      <Relabel e={e} corrections={p.corrections} intents={p.intents} />
    </section>
  );
}

/** The drafted reply (streamed into `#draft-text-<id>` while generating) and the approve / edit / reject actions. */
export function Draft(p: { e: ThreadEntry }): JSX.Element {
  const e = p.e;
  const reply = e.outputs ? replyOf(e.outputs) : null;
  return (
    <div class="panel draft" id={`draft-${e.id}`}>
      <h3>
        Drafted reply {reply?.status ? <Badge kind="state" value={reply.status} /> : ""}
      </h3>
      <pre id={`draft-text-${e.id}`} class="draft-text" aria-live="polite" safe>
        {reply?.text ?? ""}
      </pre>
      {reply?.citations.length ? (
        <p class="muted">
          Cites: <span safe>{reply.citations.join(", ")}</span>
        </p>
      ) : (
        ""
      )}
      {reply?.note ? (
        <p class="muted" safe>
          {reply.note}
        </p>
      ) : (
        ""
      )}
      {!reply && e.outputs !== null ? <p class="muted">No draft for this message.</p> : ""}
      {e.decision ? <Decision d={e.decision} /> : reply && reply.status !== "auto_sent" ? <Actions id={e.id} text={reply.text} /> : ""}
    </div>
  );
}

/** What was decided about a draft. */
export function Decision(p: { d: NonNullable<ThreadEntry["decision"]> }): JSX.Element {
  return (
    <div class={`decision ${p.d.action}`} role="status">
      <strong safe>{p.d.action}</strong> <Time at={p.d.at} />
      {p.d.reason ? (
        <span>
          {" "}
          — <span safe>{p.d.reason}</span>
        </span>
      ) : (
        ""
      )}
    </div>
  );
}

/** Approve, edit-then-send and reject forms (htmx posts; plain form posts work without JavaScript too). */
export function Actions(p: { id: string; text: string }): JSX.Element {
  const url = `${BASE}/messages/${p.id}/decision`;
  const target = `#draft-${p.id}`;
  return (
    <div class="actions" id={`actions-${p.id}`}>
      <form method="post" action={url} hx-post={url} hx-target={target} hx-swap="outerHTML">
        <input type="hidden" name="action" value="approve" />
        <button type="submit" class="primary">
          Approve and send
        </button>
      </form>
      <details>
        <summary>Edit, then send</summary>
        <form method="post" action={url} hx-post={url} hx-target={target} hx-swap="outerHTML">
          <input type="hidden" name="action" value="edit" />
          <label>
            Reply
            <textarea name="text" rows="6" required safe>
              {p.text}
            </textarea>
          </label>
          <button type="submit">Send edited reply</button>
        </form>
      </details>
      <details>
        <summary>Reject</summary>
        <form method="post" action={url} hx-post={url} hx-target={target} hx-swap="outerHTML">
          <input type="hidden" name="action" value="reject" />
          <label>
            Reason
            <input name="reason" required maxlength={500} />
          </label>
          <button type="submit" class="danger">
            Reject draft
          </button>
        </form>
      </details>
    </div>
  );
}

/** Correction of the intent, sentiment or urgency label, stored for retraining. */
export function Relabel(p: { e: ThreadEntry; corrections: Correction[]; intents: string[] }): JSX.Element {
  const url = `${BASE}/messages/${p.e.id}/labels`;
  return (
    <div class="panel" id={`labels-${p.e.id}`}>
      <h3>Correct a label</h3>
      {p.corrections.length ? (
        <ul class="corrections">
          {p.corrections.map((c) => (
            <li>
              <span safe>{c.field}</span>: <s safe>{c.previous ?? "—"}</s> → <strong safe>{c.value}</strong> <span class="muted" safe>{c.by ?? ""}</span>
            </li>
          ))}
        </ul>
      ) : (
        ""
      )}
      {p.e.outputs !== null ? (
        <form method="post" action={url} hx-post={url} hx-target={`#labels-${p.e.id}`} hx-swap="outerHTML" class="row-form">
          <label>
            Field
            <select name="field">
              <option value="intent">intent</option>
              <option value="sentiment">sentiment</option>
              <option value="urgency">urgency</option>
            </select>
          </label>
          <label>
            Correct value
            <input name="value" required maxlength={100} list={`labels-list-${p.e.id}`} />
          </label>
          <datalist id={`labels-list-${p.e.id}`}>
            {[...p.intents, "positive", "neutral", "negative", "frustrated", "low", "medium", "high", "critical"].map((v) => (
              <option value={v} />
            ))}
          </datalist>
          <button type="submit">Save correction</button>
        </form>
      ) : (
        ""
      )}
    </div>
  );
}

/** Another conversation of the same customer, as listed beside a thread. */
export interface OtherConversation {
  conversationId: string;
  channel: string;
  n: number;
  lastAt: Date;
}

/** The customer's other conversations, each a link to its own thread. */
export function OtherConversations(p: { list: OtherConversation[] }): JSX.Element {
  return (
    <aside class="other-conversations" aria-labelledby="others-title">
      <h2 id="others-title">Other conversations of this customer</h2>
      {p.list.length ? (
        <ul id="other-conversations">
          {p.list.map((o) => (
            <li>
              <a href={`${BASE}/conversations/${encodeURIComponent(o.conversationId)}`}>
                <code safe>{o.conversationId}</code>
              </a>{" "}
              <span class="badge channel" safe>
                {o.channel}
              </span>{" "}
              <span class="muted">
                {String(o.n)} message{o.n === 1 ? "" : "s"}, last <Time at={o.lastAt} />
              </span>
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted" id="other-conversations">
          None.
        </p>
      )}
    </aside>
  );
}

/** The conversation workspace: the thread on the left, the selected message's analysis and draft on the right. */
export function ConversationPage(p: {
  conversationId: string;
  entries: ThreadEntry[];
  selected: ThreadEntry | null;
  corrections: Correction[];
  intents: string[];
  others?: OtherConversation[];
}): JSX.Element {
  const first = p.entries[0];
  return (
    <section class="conversation">
      <p>
        <a href={BASE}>← Live feed</a>
      </p>
      <h1>
        <span safe>{first?.customerName ?? first?.customerId ?? "Conversation"}</span> <code class="muted" safe>{p.conversationId}</code>
      </h1>
      <div class="workspace">
        <ol id="thread" class="thread" aria-label="Thread">
          {p.entries.map((e) => (
            <Bubble e={e} selected={e.id === p.selected?.id} />
          ))}
        </ol>
        <div id="details">{p.selected ? <Details e={p.selected} corrections={p.corrections} intents={p.intents} /> : <p class="muted">Select a message.</p>}</div>
      </div>
      {p.others ? <OtherConversations list={p.others} /> : ""}
    </section>
  );
}
