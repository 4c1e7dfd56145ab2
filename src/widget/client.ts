/**
 * The embeddable customer chat widget, bundled by `bun build` into /widget/widget.js. One script tag:
 *   <script src="https://support.example.com/widget/widget.js" data-title="Help" data-token="<signed identity>" async></script>
 * It renders a launcher and a chat panel in a shadow root, talks to the chat WebSocket, re-sends unacknowledged
 * messages after a reconnect (same client id → same message id, so no duplicates), restores replies missed while
 * offline from /widget/history, and shows replies streaming in. Text is only ever inserted with textContent.
 */

interface Line {
  key: string;
  who: "me" | "agent";
  text: string;
  at: number;
  state?: "sending" | "sent";
}

interface Outgoing {
  client_id: string;
  text: string;
}

const script = document.currentScript as HTMLScriptElement | null;
const ds = script?.dataset ?? {};
const server = (ds.server || (script ? new URL(script.src, location.href).origin : location.origin)).replace(/\/$/, "");
const token = ds.token || "";
const title = ds.title || "Chat with us";
const greeting = ds.greeting || "Hi! How can we help you today?";

const store = {
  get<T>(k: string, def: T): T {
    try {
      const v = localStorage.getItem(k);
      return v ? (JSON.parse(v) as T) : def;
    } catch {
      return def;
    }
  },
  set(k: string, v: unknown): void {
    try {
      localStorage.setItem(k, JSON.stringify(v));
    } catch {
      /* storage full or disabled: the widget still works for this page view */
    }
  },
};

function randomId(bytes = 18): string {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return btoa(String.fromCharCode(...a)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// The visitor secret (256 random bits) is the anonymous chat's only credential: it stays in this browser, and the
// server shows agents only an HMAC of it. The pre-split `copilot.visitor` id was also the public conversation id,
// so anyone who saw it could connect as this visitor: it is dropped and never sent again.
try {
  localStorage.removeItem("copilot.visitor");
} catch {
  /* storage disabled */
}
let visitor = store.get<string>("copilot.visitor_secret", "");
if (!token && !/^[A-Za-z0-9_-]{43,128}$/.test(visitor)) {
  visitor = randomId(32);
  store.set("copilot.visitor_secret", visitor);
}
/** Per-identity storage namespace, so two customers sharing a browser never see each other's transcript. */
const ns = token ? `copilot.tok.${(token.split(".")[1] ?? "").slice(0, 24)}` : `copilot.v.${visitor}`;
let lines = store.get<Line[]>(`${ns}.lines`, []);
let outbox = store.get<Outgoing[]>(`${ns}.outbox`, []);
const save = () => {
  store.set(`${ns}.lines`, lines.slice(-200));
  store.set(`${ns}.outbox`, outbox);
};

const CSS = `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
.launcher { position: fixed; right: 20px; bottom: 20px; width: 56px; height: 56px; border-radius: 50%; border: 0;
  background: #1f4fd1; color: #fff; display: flex; align-items: center; justify-content: center; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); z-index: 2147483000; }
.launcher:focus-visible, button:focus-visible, textarea:focus-visible { outline: 3px solid #ffb400; outline-offset: 2px; }
.panel { position: fixed; right: 20px; bottom: 88px; width: min(370px, calc(100vw - 40px)); height: min(520px, calc(100vh - 120px));
  background: #fff; color: #1b1f24; border-radius: 12px; box-shadow: 0 10px 40px rgba(0,0,0,.3); display: flex; flex-direction: column;
  overflow: hidden; z-index: 2147483000; }
.panel[hidden] { display: none; }
header { background: #1f4fd1; color: #fff; padding: 12px 14px; display: flex; align-items: center; justify-content: space-between; }
header h2 { font-size: 16px; margin: 0; }
header button { background: transparent; color: #fff; border: 0; font-size: 22px; cursor: pointer; line-height: 1; }
.status { font-size: 12px; opacity: .9; }
.log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; background: #f5f7fb; }
.msg { max-width: 85%; padding: 8px 11px; border-radius: 12px; font-size: 14px; line-height: 1.4; white-space: pre-wrap; word-wrap: break-word; }
.msg.me { align-self: flex-end; background: #1f4fd1; color: #fff; border-bottom-right-radius: 3px; }
.msg.agent { align-self: flex-start; background: #fff; border: 1px solid #dde3ee; border-bottom-left-radius: 3px; }
.msg .state { display: block; font-size: 11px; opacity: .75; margin-top: 2px; }
.typing { font-size: 12px; color: #5b6474; padding: 0 12px 6px; background: #f5f7fb; min-height: 18px; }
form { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #e3e7ef; }
textarea { flex: 1; resize: none; border: 1px solid #c5ccd9; border-radius: 8px; padding: 8px; font-size: 14px; height: 42px; }
form button { background: #1f4fd1; color: #fff; border: 0; border-radius: 8px; padding: 0 14px; font-size: 14px; cursor: pointer; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (prefers-reduced-motion: no-preference) { .panel { transition: opacity .15s; } }
`;

const host = document.createElement("div");
host.id = "copilot-chat-widget";
const root = host.attachShadow({ mode: "open" });
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};

const style = el("style");
style.textContent = CSS;
const launcher = el("button", { class: "launcher", type: "button", "aria-label": title, "aria-expanded": "false", "aria-controls": "copilot-panel" });
{
  // A speech-bubble icon drawn as SVG, so it does not depend on an emoji font being installed.
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "28");
  svg.setAttribute("height", "28");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(NS, "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6v2h2V9H7zm4 0v2h2V9h-2zm4 0v2h2V9h-2z");
  svg.append(path);
  launcher.append(svg);
}
const panel = el("section", { class: "panel", id: "copilot-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "copilot-title" });
panel.hidden = true;
const header = el("header");
const headText = el("div");
const h2 = el("h2", { id: "copilot-title" }, title);
const status = el("div", { class: "status", role: "status" }, "connecting…");
headText.append(h2, status);
const close = el("button", { type: "button", "aria-label": "Close chat" }, "×");
header.append(headText, close);
const log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": "Conversation", tabindex: "0" });
const typing = el("div", { class: "typing", "aria-live": "polite" });
const form = el("form", { "aria-label": "Send a message" });
const label = el("label", { class: "sr", for: "copilot-input" }, "Your message");
const input = el("textarea", { id: "copilot-input", name: "message", placeholder: "Type your message…", maxlength: "5000", rows: "1" });
const send = el("button", { type: "submit" }, "Send");
form.append(label, input, send);
panel.append(header, log, typing, form);
root.append(style, launcher, panel);

const rendered = new Map<string, HTMLDivElement>();
const reduceMotion = matchMedia("(prefers-reduced-motion: reduce)").matches;

function renderLine(l: Line): HTMLDivElement {
  let d = rendered.get(l.key);
  if (!d) {
    d = el("div", { class: `msg ${l.who}`, "data-key": l.key });
    rendered.set(l.key, d);
    log.append(d);
  }
  d.textContent = l.text;
  if (l.who === "me" && l.state === "sending") d.append(el("span", { class: "state" }, "sending…"));
  log.scrollTop = log.scrollHeight;
  return d;
}

function addLine(l: Line): void {
  if (lines.some((x) => x.key === l.key)) return;
  lines.push(l);
  save();
  renderLine(l);
}

/** Shows a reply word by word (the server sends it whole once approved); screen readers get it once, complete. */
function reveal(key: string, text: string): void {
  if (lines.some((x) => x.key === key)) return;
  const l: Line = { key, who: "agent", text, at: Date.now() };
  lines.push(l);
  save();
  typing.textContent = "";
  if (reduceMotion) {
    renderLine(l);
    return;
  }
  const d = renderLine({ ...l, text: "" });
  d.setAttribute("aria-hidden", "true");
  const words = text.split(/(\s+)/);
  let i = 0;
  const step = () => {
    i = Math.min(words.length, i + 3);
    d.textContent = words.slice(0, i).join("");
    log.scrollTop = log.scrollHeight;
    if (i < words.length) setTimeout(step, 30);
    else {
      d.removeAttribute("aria-hidden");
      d.textContent = text;
    }
  };
  step();
}

const streams = new Map<string, string>();

let ws: WebSocket | null = null;
let attempt = 0;
let ready = false;
let timer: ReturnType<typeof setTimeout> | null = null;

function wsUrl(): string {
  const u = new URL(`${server}/api/chat/ws`);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  if (token) u.searchParams.set("token", token);
  else u.searchParams.set("visitor", visitor);
  return u.toString();
}

/** Client ids sent on the current socket; a new socket re-sends whatever is still unacknowledged. */
let inflight = new Set<string>();

function flush(): void {
  if (!ws || !ready) return;
  for (const m of outbox) {
    if (inflight.has(m.client_id)) continue;
    inflight.add(m.client_id);
    ws.send(JSON.stringify({ type: "message", text: m.text, client_id: m.client_id }));
  }
}

async function history(): Promise<void> {
  try {
    const res = await fetch(`${server}/widget/history`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(token ? { token } : { visitor }) });
    if (!res.ok) return;
    const h = (await res.json()) as { messages: { id: string; client_id: string | null; text: string; at: string; reply: string | null }[] };
    for (const m of h.messages) {
      const key = m.client_id ? `me:${m.client_id}` : `me:${m.id}`;
      if (!lines.some((x) => x.key === key)) addLine({ key, who: "me", text: m.text, at: Date.parse(m.at), state: "sent" });
      if (m.reply) reveal(`agent:${m.id}`, m.reply);
    }
  } catch {
    /* history is best effort; live events still arrive */
  }
}

function connect(): void {
  if (timer) clearTimeout(timer);
  timer = null;
  ready = false;
  inflight = new Set();
  status.textContent = attempt ? "reconnecting…" : "connecting…";
  const sock = new WebSocket(wsUrl());
  ws = sock;
  sock.onmessage = (e) => {
    let m: { type: string; [k: string]: unknown };
    try {
      m = JSON.parse(String(e.data));
    } catch {
      return;
    }
    if (m.type === "ready") {
      ready = true;
      attempt = 0;
      status.textContent = "online";
      flush();
      void history();
    } else if (m.type === "ack" && typeof m.client_id === "string") {
      outbox = outbox.filter((o) => o.client_id !== m.client_id);
      const l = lines.find((x) => x.key === `me:${m.client_id}`);
      if (l) {
        l.state = "sent";
        renderLine(l);
      }
      save();
      typing.textContent = "An agent is looking at your message…";
    } else if (m.type === "result") {
      const id = String(m.message_id);
      if (typeof m.reply === "string") {
        const key = `agent:${id}`;
        const shown = lines.find((x) => x.key === key);
        streams.delete(id);
        if (shown) {
          // The same reply can arrive twice (the approved result and the channel's reply.sent): show it once.
          if (shown.text !== m.reply) {
            shown.text = m.reply;
            save();
            renderLine(shown);
          }
        } else {
          rendered.get(key)?.remove();
          rendered.delete(key);
          reveal(key, m.reply);
        }
      } else typing.textContent = "An agent is preparing your answer…";
    } else if (m.type === "reply.delta" && typeof m.delta === "string") {
      const id = String(m.message_id);
      const text = (streams.get(id) ?? "") + m.delta;
      streams.set(id, text);
      typing.textContent = "";
      const d = renderLine({ key: `agent:${id}`, who: "agent", text, at: Date.now() });
      d.setAttribute("aria-busy", "true");
    } else if (m.type === "reply.retract") {
      // The streamed draft was held back for review after all: the customer must not keep it.
      const id = String(m.message_id);
      streams.delete(id);
      rendered.get(`agent:${id}`)?.remove();
      rendered.delete(`agent:${id}`);
      typing.textContent = "An agent is preparing your answer…";
    } else if (m.type === "typing") {
      typing.textContent = m.active === false ? "" : "An agent is typing…";
    } else if (m.type === "error" && typeof m.client_id === "string" && m.retriable === true) {
      inflight.delete(m.client_id);
      setTimeout(flush, 2000);
    } else if (m.type === "error" && typeof m.client_id === "string") {
      outbox = outbox.filter((o) => o.client_id !== m.client_id);
      const l = lines.find((x) => x.key === `me:${m.client_id}`);
      if (l) {
        l.text += " (not delivered)";
        l.state = "sent";
        renderLine(l);
      }
      save();
    }
  };
  sock.onclose = (e) => {
    if (ws !== sock) return;
    ready = false;
    ws = null;
    status.textContent = "offline — retrying";
    // 1001: the server is shutting down for a deploy; another replica answers at once, so reconnect soon (jittered
    // so every widget does not arrive together) without growing the backoff.
    const goingAway = e.code === 1001;
    const delay = goingAway ? 250 + Math.random() * 750 : Math.min(30_000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    if (!goingAway) attempt++;
    timer = setTimeout(connect, delay);
  };
}

function submit(): void {
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  const client_id = randomId(12);
  outbox.push({ client_id, text });
  addLine({ key: `me:${client_id}`, who: "me", text, at: Date.now(), state: "sending" });
  flush();
}

function open(show: boolean): void {
  panel.hidden = !show;
  launcher.setAttribute("aria-expanded", String(show));
  if (show) input.focus();
  else launcher.focus();
}

launcher.addEventListener("click", () => open(panel.hidden));
close.addEventListener("click", () => open(false));
panel.addEventListener("keydown", (e) => {
  if (e.key === "Escape") open(false);
});
input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    submit();
  }
});
form.addEventListener("submit", (e) => {
  e.preventDefault();
  submit();
});
addEventListener("online", () => {
  if (!ws) connect();
});

if (lines.length === 0) lines.push({ key: "greeting", who: "agent", text: greeting, at: Date.now() });
for (const l of lines) renderLine(l);
(document.body ?? document.documentElement).append(host);
connect();
export {};
