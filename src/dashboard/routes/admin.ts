import { Elysia, t } from "elysia";
import { UsersPage } from "../../../views/insights.tsx";
import { BASE } from "../../../views/layout.tsx";
import { AppError } from "../../errors.ts";
import { doc } from "../../http/openapi.ts";
import { ROLES, type Role } from "../auth.ts";
import { redirect } from "../http.ts";
import { field, form, type RouteContext, UUID } from "./context.ts";

/** User management and customer erasure: admins only. */
export function adminRoutes(c: RouteContext) {
  const { d, p } = c;
  return new Elysia({ prefix: BASE })
    .use(c.session)
    .get("/users", async ({ principal }) => c.page(principal, "Users", "users", UsersPage({ users: await p.accounts.list(), csrf: principal.csrf })), {
      session: "admin",
      detail: doc({ summary: "Dashboard users and their roles (admin)", tag: "dashboard", auth: "session", produces: { type: "text/html", description: "The page." } }),
    })
    .post(
      "/users",
      async ({ principal, body: f }) => {
        try {
          const role = (ROLES as readonly string[]).includes(f.role ?? "") ? (f.role as Role) : "agent";
          await p.accounts.createUser({ email: f.email ?? "", name: f.name ?? "", role, password: f.password ?? "" });
        } catch (e) {
          if (!(e instanceof AppError) || e.status >= 500) throw e;
          return c.page(principal, "Users", "users", UsersPage({ users: await p.accounts.list(), csrf: principal.csrf, error: e.message }), { status: e.status });
        }
        return redirect(`${BASE}/users`);
      },
      {
        parse: "urlencoded",
        session: "admin",
        body: form({ email: field(), name: field(), role: field(20), password: field() }),
        detail: doc({
          summary: "Create a user (admin)",
          tag: "dashboard",
          auth: "session",
          errors: [409, 422],
          produces: { type: "redirect", description: "Back to the users page (a refused user re-renders it with the error)." },
        }),
      },
    )
    .post(
      "/users/:id/:op",
      async ({ principal, params }) => {
        if (params.op !== "enable" && params.op !== "disable") throw new AppError("not_found", "no such operation", { status: 404 });
        if (!UUID.test(params.id)) throw new AppError("not_found", "no such user", { status: 404 });
        if (params.id === principal.user.id) throw new AppError("invalid_user", "you cannot disable yourself", { status: 422 });
        await p.accounts.setDisabled(params.id, params.op === "disable");
        if (params.op === "disable") p.live.closeWhere((x) => x.user.id === params.id);
        return redirect(`${BASE}/users`);
      },
      {
        session: "admin",
        params: t.Object({ id: t.String(), op: t.String({ description: "enable or disable" }) }),
        detail: doc({ summary: "Enable or disable a user; disabling closes their sessions' sockets (admin)", tag: "dashboard", auth: "session", errors: [404, 422], produces: { type: "redirect", description: "Back to the users page." } }),
      },
    )
    .post(
      "/privacy/erase",
      async ({ principal, body }) => {
        // Right to erasure: admins only, CSRF-checked like every dashboard POST; the audit keeps who and counts, not the id.
        if (!d.privacy) throw new AppError("unavailable", "erasure is not available in this process", { status: 503 });
        const customer = body.customer;
        if (typeof customer !== "string" || !customer.trim() || customer.length > 256) throw new AppError("invalid_customer", "customer (1-256 characters) is required", { status: 422 });
        const r = await d.privacy.eraseCustomer(customer, `user:${principal.user.id}`);
        return Response.json({ audit_id: r.auditId, counts: r.counts }, { headers: { "cache-control": "no-store" } });
      },
      {
        session: "admin",
        body: form({ customer: field(1000) }),
        detail: doc({
          summary: "Erase everything stored about a customer (admin; right to erasure)",
          description: "Messages, results, drafts, decisions, corrections, replies and memory of the customer id; the audit records who and the counts, not the id.",
          tag: "dashboard",
          auth: "session",
          errors: [422, 503],
          produces: { description: "{ audit_id, counts } (application/json)" },
        }),
      },
    );
}
