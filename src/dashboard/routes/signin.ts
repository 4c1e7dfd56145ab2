import { readFileSync } from "node:fs";
import { Elysia, t } from "elysia";
import { BASE, LoginPage } from "../../../views/layout.tsx";
import { AppError } from "../../errors.ts";
import { doc } from "../../http/openapi.ts";
import { randomToken, readCookie, safeEqual, setCookie } from "../auth.ts";
import { htmlResponse, redirect, safeNext } from "../http.ts";
import { field, form, type RouteContext } from "./context.ts";

const ASSETS: Record<string, { file: string; type: string }> = {
  "htmx.min.js": { file: Bun.resolveSync("htmx.org/dist/htmx.min.js", import.meta.dir), type: "text/javascript" },
  "htmx-ws.js": { file: Bun.resolveSync("htmx-ext-ws/dist/ws.js", import.meta.dir), type: "text/javascript" },
  "uplot.min.js": { file: Bun.resolveSync("uplot/dist/uPlot.iife.min.js", import.meta.dir), type: "text/javascript" },
  "uplot.min.css": { file: Bun.resolveSync("uplot/dist/uPlot.min.css", import.meta.dir), type: "text/css" },
  "app.css": { file: new URL("../../../views/assets/app.css", import.meta.url).pathname, type: "text/css" },
  "app.js": { file: new URL("../../../views/assets/app.js", import.meta.url).pathname, type: "text/javascript" },
};
const assetCache = new Map<string, string>();

/** Static assets (public: the sign-in page needs them), sign-in and sign-out. */
export function signinRoutes(c: RouteContext) {
  const { d, p } = c;
  const { names, secure } = c.cookies;
  return new Elysia({ prefix: BASE })
    .use(c.session)
    .get(
      "/assets/:name",
      ({ params }) => {
        const a = ASSETS[params.name];
        if (!a) throw new AppError("not_found", "no such asset", { status: 404 });
        let body = assetCache.get(params.name);
        if (body === undefined) assetCache.set(params.name, (body = readFileSync(a.file, "utf8")));
        return new Response(body, { headers: { "content-type": `${a.type}; charset=utf-8`, "cache-control": "public, max-age=3600", "x-content-type-options": "nosniff" } });
      },
      {
        params: t.Object({ name: t.String({ description: Object.keys(ASSETS).join(", ") }) }),
        detail: doc({ summary: "Dashboard scripts and styles, served from node_modules (no CDN)", tag: "dashboard", auth: "public", errors: [404], produces: { type: "text/javascript", description: "JavaScript or CSS." } }),
      },
    )
    .get(
      "/login",
      async ({ request, query }) => {
        if (await c.principalOf(request.headers)) return redirect(safeNext(query.next, BASE));
        const csrf = randomToken();
        return htmlResponse(LoginPage({ csrf, next: query.next }), { headers: { "set-cookie": setCookie(names.csrf, csrf, 3600, secure) } });
      },
      {
        query: t.Object({ next: t.Optional(t.String({ maxLength: 2048 })) }),
        detail: doc({ summary: "Sign-in page (sets the sign-in form's CSRF cookie)", tag: "dashboard", auth: "public", produces: { type: "text/html", description: "The sign-in form, or a redirect when already signed in." } }),
      },
    )
    .post(
      "/login",
      async ({ request, body: f, server }) => {
        const email = (f.email ?? "").trim().toLowerCase().slice(0, 320);
        const again = async (error: string, status: number, extra: Record<string, string> = {}) => {
          const csrf = randomToken();
          return htmlResponse(LoginPage({ csrf, error, email, next: f.next }), { status, headers: { "set-cookie": setCookie(names.csrf, csrf, 3600, secure), ...extra } });
        };
        const cookieCsrf = readCookie(request.headers.get("cookie"), names.csrf);
        if (!cookieCsrf || !f._csrf || !safeEqual(cookieCsrf, f._csrf)) return again("Your sign-in form expired. Please try again.", 403);
        // Reserve, then verify: the attempt is counted (per trusted client address and per account) before the
        // password is checked, so parallel guesses cannot all pass a check made before any failure was recorded.
        const ip = p.guard.ip(request, server);
        const limited = await p.guard.refusal(["signin_ip", ip], ["signin_account", email]);
        if (limited) return again(`Too many sign-in attempts. Try again in ${Math.ceil(limited.retryAfterS / 60)} minute(s).`, 429, limited.headers);
        d.metrics.signinChecks.inc();
        const user = await p.accounts.verify(email, f.password ?? "");
        if (!user) {
          d.log.warn({ component: "dashboard", ip }, "failed sign-in");
          return again("Wrong email or password.", 401);
        }
        // A successful sign-in clears the account's attempts and gives its unit back to the address (shared offices).
        await p.guard.reset("signin_account", email);
        await p.guard.refund("signin_ip", ip);
        const s = await p.accounts.startSession(user.id);
        d.log.info({ component: "dashboard", user: user.id }, "signed in");
        const h = new Headers({ location: safeNext(f.next, BASE), "cache-control": "no-store" });
        h.append("set-cookie", setCookie(names.session, s.token, s.maxAgeSeconds, secure));
        h.append("set-cookie", setCookie(names.csrf, "", 0, secure));
        return new Response(null, { status: 303, headers: h });
      },
      {
        parse: "urlencoded",
        body: form({ email: field(), password: field(), next: field() }),
        detail: doc({
          summary: "Sign in (email, password and the form's CSRF token); sets the session cookie",
          description: "Attempts are limited per client address and per account (429 re-renders the form). Wrong credentials re-render it with 401.",
          tag: "dashboard",
          auth: "public",
          errors: [422],
          produces: { type: "redirect", description: "Signed in: to `next` (same-site dashboard path) or /dashboard/." },
        }),
      },
    )
    .post(
      "/logout",
      async ({ principal }) => {
        await p.accounts.endSession(principal.tokenHash);
        p.live.closeWhere((x) => x.tokenHash === principal.tokenHash);
        return redirect(`${BASE}/login`, { "set-cookie": setCookie(names.session, "", 0, secure) });
      },
      {
        session: "agent",
        detail: doc({ summary: "Sign out: ends the session and closes its live sockets", tag: "dashboard", auth: "session", produces: { type: "redirect", description: "To the sign-in page." } }),
      },
    );
}
