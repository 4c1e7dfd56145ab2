import { Elysia, t } from "elysia";
import { AlertRow, AlertsPage } from "../../../views/insights.tsx";
import { BASE } from "../../../views/layout.tsx";
import { AppError } from "../../errors.ts";
import { doc } from "../../http/openapi.ts";
import { parseRule } from "../alerts.ts";
import { hasRole } from "../auth.ts";
import { htmlResponse, redirect } from "../http.ts";
import { field, form, isHtmx, type RouteContext } from "./context.ts";

const redirects = (summary: string, errors: number[] = []) => doc({ summary, tag: "dashboard", auth: "session", errors, produces: { type: "redirect", description: "Back to the alerts page." } });

/** Fired alerts and their acknowledgement (agents), alert rules (admins). */
export function alertRoutes(c: RouteContext) {
  const { p } = c;
  return new Elysia({ prefix: BASE })
    .use(c.session)
    .get(
      "/alerts",
      async ({ principal }) => {
        const [list, rules] = await Promise.all([p.queries.alerts(), p.alerts.rules()]);
        return c.page(
          principal,
          "Alerts",
          "alerts",
          AlertsPage({ list: list.map((x) => ({ a: { ...x.a, kind: x.a.kind as never }, ackBy: x.ackBy })), rules, admin: hasRole(principal.user.role, "admin"), csrf: principal.csrf }),
        );
      },
      { session: "agent", detail: doc({ summary: "Fired alerts and the alert rules", tag: "dashboard", auth: "session", produces: { type: "text/html", description: "The page." } }) },
    )
    .post(
      "/alerts/:id/ack",
      async ({ principal, params, request }) => {
        const id = Number(params.id);
        if (!Number.isSafeInteger(id)) throw new AppError("not_found", "no such alert", { status: 404 });
        await p.alerts.acknowledge(id, principal.user.id);
        if (!isHtmx(request.headers)) return redirect(`${BASE}/alerts`);
        const [row] = (await p.queries.alerts(1000)).filter((x) => x.a.id === id);
        if (!row) throw new AppError("not_found", "no such alert", { status: 404 });
        return htmlResponse(AlertRow({ a: { ...row.a, kind: row.a.kind as never }, ackBy: row.ackBy }));
      },
      {
        session: "agent",
        detail: doc({ summary: "Acknowledge an alert", tag: "dashboard", auth: "session", errors: [404], produces: { type: "text/html", description: "The alert row (HTMX), else a redirect to the alerts page." } }),
      },
    )
    .post(
      "/alerts/rules",
      async ({ body }) => {
        await p.alerts.createRule(parseRule(body));
        return redirect(`${BASE}/alerts`);
      },
      {
        parse: "urlencoded",
        session: "admin",
        body: form({ name: field(200), kind: field(40, "urgency, sentiment, vip, keyword, spike_negative or spike_intent"), values: field(10_000, "comma-separated levels, labels, customer ids or keywords"), intent: field(200), windowMinutes: field(20), factor: field(20), minCount: field(20), webhook: field(20) }),
        detail: redirects("Create an alert rule (admin)", [422]),
      },
    )
    .post(
      "/alerts/rules/:id/:op",
      async ({ params }) => {
        const id = Number(params.id);
        const rule = (await p.alerts.rules()).find((r) => r.id === id);
        if (!rule) throw new AppError("not_found", "no such rule", { status: 404 });
        if (params.op === "toggle") await p.alerts.setEnabled(id, !rule.enabled);
        else if (params.op === "delete") await p.alerts.deleteRule(id);
        else throw new AppError("not_found", "no such operation", { status: 404 });
        return redirect(`${BASE}/alerts`);
      },
      { session: "admin", params: t.Object({ id: t.String(), op: t.String({ description: "toggle or delete" }) }), detail: redirects("Enable/disable (toggle) or delete an alert rule (admin)", [404]) },
    );
}
