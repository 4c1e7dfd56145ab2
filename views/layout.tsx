import type { User } from "../src/dashboard/auth.ts";

/** Where the dashboard lives; every link and asset is relative to it. */
export const BASE = "/dashboard";

/** A navigation entry and the least role that sees it. */
const NAV: { href: string; label: string; key: string; role?: "lead" | "admin" }[] = [
  { href: `${BASE}`, label: "Live feed", key: "feed" },
  { href: `${BASE}/analytics`, label: "Analytics", key: "analytics", role: "lead" },
  { href: `${BASE}/agents`, label: "Agent activity", key: "agents", role: "lead" },
  { href: `${BASE}/alerts`, label: "Alerts", key: "alerts" },
  { href: `${BASE}/users`, label: "Users", key: "users", role: "admin" },
];

const RANK = { agent: 1, lead: 2, admin: 3 } as const;

/** Props of the page shell. */
export interface LayoutProps {
  title: string;
  user: User;
  csrf: string;
  active: string;
  /** Query string for the live socket (feed filters, or the conversation watched). */
  live?: string;
  children?: JSX.Element | JSX.Element[];
  scripts?: string[];
  styles?: string[];
}

/**
 * The page shell: navigation, the toast region and one HTMX WebSocket that every page keeps open, so alerts toast
 * everywhere and the feed or conversation on screen updates live. htmx sends the CSRF token on every request.
 */
export function Layout(p: LayoutProps): JSX.Element {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title safe>{`${p.title} · Support Copilot`}</title>
        <link rel="stylesheet" href={`${BASE}/assets/app.css`} />
        {(p.styles ?? []).map((s) => (
          <link rel="stylesheet" href={s} />
        ))}
        <script src={`${BASE}/assets/htmx.min.js`}></script>
        <script src={`${BASE}/assets/htmx-ws.js`}></script>
        {(p.scripts ?? []).map((s) => (
          <script src={s} defer></script>
        ))}
        <script src={`${BASE}/assets/app.js`} defer></script>
      </head>
      <body hx-headers={JSON.stringify({ "X-CSRF-Token": p.csrf })} data-csrf={p.csrf}>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href={BASE}>
            Support Copilot
          </a>
          <nav aria-label="Main">
            {NAV.filter((n) => !n.role || RANK[p.user.role] >= RANK[n.role]).map((n) => (
              <a href={n.href} aria-current={n.key === p.active ? "page" : undefined}>
                {n.label}
              </a>
            ))}
          </nav>
          <div class="who">
            <span safe>{p.user.name}</span> <span class="role" safe>{p.user.role}</span>
            <form method="post" action={`${BASE}/logout`} class="inline">
              <input type="hidden" name="_csrf" value={p.csrf} />
              <button type="submit" class="link">
                Sign out
              </button>
            </form>
          </div>
        </header>
        <div id="live" hx-ext="ws" ws-connect={`${BASE}/ws${p.live ? `?${p.live}` : ""}`}>
          <span id="live-status" class="live-status" aria-live="polite">
            connecting…
          </span>
        </div>
        <main id="main">{p.children}</main>
        <div id="toasts" class="toasts" role="region" aria-label="Alerts" aria-live="assertive"></div>
      </body>
    </html>
  );
}

/** The sign-in page (no navigation, no live socket). */
export function LoginPage(p: { csrf: string; error?: string; email?: string; next?: string }): JSX.Element {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Sign in · Support Copilot</title>
        <link rel="stylesheet" href={`${BASE}/assets/app.css`} />
      </head>
      <body class="login">
        <main id="main" class="login-box">
          <h1>Support Copilot</h1>
          <form method="post" action={`${BASE}/login`}>
            <input type="hidden" name="_csrf" value={p.csrf} />
            <input type="hidden" name="next" value={p.next ?? ""} />
            {p.error ? (
              <p class="error" role="alert" safe>
                {p.error}
              </p>
            ) : (
              ""
            )}
            <label>
              Email
              <input type="email" name="email" autocomplete="username" required value={p.email ?? ""} autofocus />
            </label>
            <label>
              Password
              <input type="password" name="password" autocomplete="current-password" required />
            </label>
            <button type="submit" class="primary">
              Sign in
            </button>
          </form>
        </main>
      </body>
    </html>
  );
}
