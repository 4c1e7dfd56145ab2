import type { FiredAlert, Rule } from "../src/dashboard/alerts.ts";
import { RULE_KINDS } from "../src/dashboard/alerts.ts";
import { EMERGING } from "../src/dashboard/emerging.ts";
import type { User } from "../src/dashboard/auth.ts";
import { ROLES } from "../src/dashboard/auth.ts";
import { RANGES, type Range } from "../src/dashboard/filters.ts";
import type { DashboardQueries } from "../src/dashboard/queries.ts";
import { Time } from "./feed.tsx";
import { BASE } from "./layout.tsx";

type Analytics = Awaited<ReturnType<DashboardQueries["analytics"]>>;
type Activity = Awaited<ReturnType<DashboardQueries["agentActivity"]>>;

/** JSON for a `<script type="application/json">` island: `<` is escaped so no string can close the script element. */
export function jsonIsland(data: unknown): string {
  return JSON.stringify(data).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

function Stat(p: { label: string; value: string; id?: string }): JSX.Element {
  return (
    <div class="stat" id={p.id}>
      <div class="value" safe>
        {p.value}
      </div>
      <div class="label" safe>
        {p.label}
      </div>
    </div>
  );
}

function fmtDuration(s: number | null): string {
  if (s === null) return "—";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

const fmtP = (p: number) => (p < 1e-6 ? "p < 0.000001" : `p = ${p.toPrecision(2)}`);

/** The emerging-topics verdict: topics with their test figures, "nothing stands out", or "not enough history". */
function EmergingList(p: { e: Analytics["emerging"] }): JSX.Element {
  const e = p.e;
  if (e.status === "not_enough_history")
    return (
      <p class="muted" id="emerging-status">
        Not enough history yet: {String(Math.floor(e.baselineHours))} h of baseline, the test needs {String(e.neededHours)} h.
      </p>
    );
  if (!e.topics.length)
    return (
      <p class="muted" id="emerging-status">
        Nothing stands out (Poisson test, p &lt; {String(EMERGING.pValue)}, at least {String(EMERGING.minCount)} messages).
      </p>
    );
  return (
    <ol class="emerging" id="emerging-status">
      {e.topics.map((t) => (
        <li>
          <strong safe>{t.intent}</strong> <span class="num">{String(t.recent)} in 24 h</span>{" "}
          <span class="muted">
            vs {t.expected.toFixed(1)} expected ({t.ratePerHour.toFixed(2)}/h baseline), {fmtP(t.pValue)}
          </span>
        </li>
      ))}
    </ol>
  );
}

/** Analytics: headline figures in HTML, charts drawn client-side by uPlot from the embedded JSON. */
export function AnalyticsPage(p: { a: Analytics }): JSX.Element {
  const a = p.a;
  const acc = a.acceptance;
  return (
    <section class="analytics">
      <h1>Analytics</h1>
      <form method="get" action={`${BASE}/analytics`} class="filters">
        <label>
          Range
          <select name="range" data-autosubmit="true">
            {Object.keys(RANGES).map((r) => (
              <option value={r} selected={r === a.range}>
                {r === "all" ? "all time" : `last ${r}`}
              </option>
            ))}
          </select>
        </label>
        <noscript>
          <button type="submit">Apply</button>
        </noscript>
      </form>
      <div class="stats">
        <Stat label="messages" value={String(a.total)} id="stat-total" />
        <Stat label="urgent (high or critical)" value={String(a.urgent)} id="stat-urgent" />
        <Stat label="median time to first response" value={fmtDuration(a.medianFirstResponseS)} id="stat-ttfr" />
        <Stat
          label={`draft acceptance (${acc.approved} approved · ${acc.edited} edited · ${acc.rejected} rejected)`}
          value={acc.rate === null ? "—" : `${Math.round(acc.rate * 100)}%`}
          id="stat-acceptance"
        />
        <Stat label="degraded results" value={String(a.degraded)} />
      </div>
      <div class="charts">
        <figure class="chart">
          <figcaption>Volume over time by channel</figcaption>
          <div id="chart-volume" class="chart-box" role="img" aria-label="Message volume over time by channel"></div>
        </figure>
        <figure class="chart">
          <figcaption>Sentiment trend</figcaption>
          <div id="chart-sentiment" class="chart-box" role="img" aria-label="Sentiment over time"></div>
        </figure>
        <figure class="chart">
          <figcaption>Intent mix</figcaption>
          <table class="bars" id="intent-mix">
            <tbody>
              {a.intents.map((i) => (
                <tr>
                  <th scope="row" safe>
                    {i.intent}
                  </th>
                  <td>
                    <span class="bar" style={`width:${Math.max(2, Math.round((i.n / Math.max(1, a.intents[0]?.n ?? 1)) * 100))}%`}></span>
                  </td>
                  <td class="num">{String(i.n)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </figure>
        <figure class="chart">
          <figcaption>Top emerging topics (last 24 h against the intent's own hourly rate over the previous 6 days)</figcaption>
          <EmergingList e={a.emerging} />
        </figure>
      </div>
      <script type="application/json" id="analytics-data">
        {jsonIsland({ timeline: { from: a.timeline.from, to: a.timeline.to, bucket: a.timeline.bucket, step: a.timeline.step, times: a.timeline.times }, charts: a.charts })}
      </script>
    </section>
  );
}

const ms = (x: number | null) => (x === null ? "—" : x < 10 ? `${x.toFixed(1)} ms` : `${Math.round(x)} ms`);

/** Agent activity: per worker calls, failures and latency; consumer status and lag; last errors. */
export function AgentsPage(p: { act: Activity; consumer: { role: string; workers: string[]; lag: number | null; busy: boolean | null; wsClients: number } }): JSX.Element {
  const a = p.act;
  return (
    <section>
      <h1>Agent activity</h1>
      <div class="stats">
        <Stat label="role of this process" value={p.consumer.role} />
        <Stat label="consumer lag (records)" value={p.consumer.lag === null ? "not consuming here" : String(p.consumer.lag)} id="stat-lag" />
        <Stat label="consumer" value={p.consumer.busy === null ? "—" : p.consumer.busy ? "processing" : "idle"} />
        <Stat label={`dead letters (last ${a.windowMinutes} min)`} value={String(a.deadLetters.n)} />
      </div>
      <table class="grid" id="workers">
        <caption>Worker agents, last {String(a.windowMinutes)} minutes</caption>
        <thead>
          <tr>
            <th scope="col">worker</th>
            <th scope="col">calls</th>
            <th scope="col">failures</th>
            <th scope="col">p50</th>
            <th scope="col">p99</th>
          </tr>
        </thead>
        <tbody>
          {a.workers.length === 0 ? (
            <tr>
              <td colspan={5} class="muted">
                No worker ran in this window{p.consumer.workers.length ? ` (registered: ${p.consumer.workers.join(", ")})` : ""}.
              </td>
            </tr>
          ) : (
            ""
          )}
          {a.workers.map((w) => (
            <tr class={w.failures ? "has-failures" : ""}>
              <th scope="row" safe>
                {w.worker}
              </th>
              <td class="num">{String(w.calls)}</td>
              <td class="num">{String(w.failures)}</td>
              <td class="num">{ms(w.p50)}</td>
              <td class="num">{ms(w.p99)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Last errors</h2>
      {a.lastErrors.length ? (
        <ul class="errors">
          {a.lastErrors.map((e) => (
            <li>
              <Time at={e.at} /> <strong safe>{e.worker}</strong> <code safe>{e.code}</code> <span safe>{e.message}</span>{" "}
              <a href={`${BASE}/conversations/${encodeURIComponent(e.conversation_id)}?m=${e.message_id}`}>open</a>
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">No worker errors recorded.</p>
      )}
    </section>
  );
}

/** One alert line, with an acknowledge button while unacknowledged. */
export function AlertRow(p: { a: FiredAlert; ackBy: string | null }): JSX.Element {
  const a = p.a;
  return (
    <li id={`alert-${a.id}`} class={`alert-row${a.acknowledgedAt ? " acked" : ""}`}>
      <Time at={a.createdAt} /> <strong safe>{a.title}</strong>
      <div class="muted" safe>
        {a.detail}
      </div>
      {a.conversationId ? <a href={`${BASE}/conversations/${encodeURIComponent(a.conversationId)}${a.messageId ? `?m=${a.messageId}` : ""}`}>open conversation</a> : ""}
      {a.acknowledgedAt ? (
        <span class="ack">
          acknowledged by <span safe>{p.ackBy ?? "someone"}</span> at <Time at={a.acknowledgedAt} />
        </span>
      ) : (
        <button type="button" hx-post={`${BASE}/alerts/${a.id}/ack`} hx-target={`#alert-${a.id}`} hx-swap="outerHTML">
          Acknowledge
        </button>
      )}
    </li>
  );
}

/** A toast pushed to every open dashboard when an alert fires, plus the new line on the alerts page. */
export function AlertToast(p: { a: FiredAlert }): JSX.Element {
  return (
    <>
      <div hx-swap-oob="beforeend:#toasts">
        <div class="toast" role="alert" data-alert={String(p.a.id)}>
          <strong safe>{p.a.title}</strong>
          <a href={`${BASE}/alerts`}>alerts</a>
          <button type="button" class="close" aria-label="Dismiss">
            ×
          </button>
        </div>
      </div>
      <div hx-swap-oob="afterbegin:#alert-list">
        <AlertRow a={p.a} ackBy={null} />
      </div>
    </>
  );
}

/** Alerts: the fired list for everyone, and rule management for admins. */
export function AlertsPage(p: { list: { a: FiredAlert; ackBy: string | null }[]; rules: Rule[]; admin: boolean; csrf: string }): JSX.Element {
  return (
    <section>
      <h1>Alerts</h1>
      <ol id="alert-list" class="alerts">
        {p.list.map((x) => (
          <AlertRow a={x.a} ackBy={x.ackBy} />
        ))}
      </ol>
      <p class="muted empty-alerts">No alert has fired.</p>
      <h2>Rules</h2>
      <table class="grid" id="rules">
        <thead>
          <tr>
            <th scope="col">name</th>
            <th scope="col">kind</th>
            <th scope="col">parameters</th>
            <th scope="col">webhook</th>
            <th scope="col">state</th>
            {p.admin ? <th scope="col">actions</th> : ""}
          </tr>
        </thead>
        <tbody>
          {p.rules.map((r) => (
            <tr>
              <td safe>{r.name}</td>
              <td safe>{r.kind}</td>
              <td>
                <code safe>{JSON.stringify(r.params)}</code>
              </td>
              <td>{r.webhook ? "yes" : "no"}</td>
              <td>{r.enabled ? "enabled" : "disabled"}</td>
              {p.admin ? (
                <td class="row-actions">
                  <form method="post" action={`${BASE}/alerts/rules/${r.id}/toggle`} class="inline">
                    <input type="hidden" name="_csrf" value={p.csrf} />
                    <button type="submit">{r.enabled ? "Disable" : "Enable"}</button>
                  </form>
                  <form method="post" action={`${BASE}/alerts/rules/${r.id}/delete`} class="inline">
                    <input type="hidden" name="_csrf" value={p.csrf} />
                    <button type="submit" class="danger">
                      Delete
                    </button>
                  </form>
                </td>
              ) : (
                ""
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {p.admin ? (
        <form method="post" action={`${BASE}/alerts/rules`} class="card-form" id="new-rule">
          <h2>New rule</h2>
          <input type="hidden" name="_csrf" value={p.csrf} />
          <label>
            Name <input name="name" required maxlength={120} />
          </label>
          <label>
            Kind
            <select name="kind">
              {RULE_KINDS.map((k) => (
                <option value={k}>{k}</option>
              ))}
            </select>
          </label>
          <label>
            Values (comma-separated: levels, labels, customers, keywords or the intent)
            <input name="values" maxlength={2000} />
          </label>
          <label>
            Window (min) <input name="windowMinutes" type="number" min={1} value="15" />
          </label>
          <label>
            Factor over baseline <input name="factor" type="number" min={1} step="0.5" value="3" />
          </label>
          <label>
            Minimum count <input name="minCount" type="number" min={1} value="5" />
          </label>
          <label class="check">
            <input type="checkbox" name="webhook" /> send to webhook
          </label>
          <button type="submit" class="primary">
            Add rule
          </button>
        </form>
      ) : (
        ""
      )}
    </section>
  );
}

/** Users (admins only): list, create, enable/disable. */
export function UsersPage(p: { users: (User & { disabled: boolean; createdAt: Date })[]; csrf: string; error?: string }): JSX.Element {
  return (
    <section>
      <h1>Users</h1>
      <table class="grid">
        <thead>
          <tr>
            <th scope="col">email</th>
            <th scope="col">name</th>
            <th scope="col">role</th>
            <th scope="col">state</th>
            <th scope="col"></th>
          </tr>
        </thead>
        <tbody>
          {p.users.map((u) => (
            <tr>
              <td safe>{u.email}</td>
              <td safe>{u.name}</td>
              <td safe>{u.role}</td>
              <td>{u.disabled ? "disabled" : "active"}</td>
              <td>
                <form method="post" action={`${BASE}/users/${u.id}/${u.disabled ? "enable" : "disable"}`} class="inline">
                  <input type="hidden" name="_csrf" value={p.csrf} />
                  <button type="submit">{u.disabled ? "Enable" : "Disable"}</button>
                </form>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form method="post" action={`${BASE}/users`} class="card-form">
        <h2>New user</h2>
        {p.error ? (
          <p class="error" role="alert" safe>
            {p.error}
          </p>
        ) : (
          ""
        )}
        <input type="hidden" name="_csrf" value={p.csrf} />
        <label>
          Email <input type="email" name="email" required />
        </label>
        <label>
          Name <input name="name" required maxlength={128} />
        </label>
        <label>
          Role
          <select name="role">
            {ROLES.map((r) => (
              <option value={r}>{r}</option>
            ))}
          </select>
        </label>
        <label>
          Initial password (12+ characters) <input type="password" name="password" required minlength={12} autocomplete="new-password" />
        </label>
        <button type="submit" class="primary">
          Create user
        </button>
      </form>
    </section>
  );
}
