import { Elysia, t } from "elysia";
import { AgentsPage, AnalyticsPage } from "../../../views/insights.tsx";
import { BASE } from "../../../views/layout.tsx";
import { type CalibrationReport, ModelsPage } from "../../../views/models.tsx";
import { doc } from "../../http/openapi.ts";
import { RANGES, type Range } from "../filters.ts";
import type { RouteContext } from "./context.ts";

const html = (summary: string) => doc({ summary, tag: "dashboard", auth: "session", produces: { type: "text/html", description: "The page." } });

/** Analytics and agent activity (leads), the models page (admins). */
export function insightRoutes(c: RouteContext) {
  const { d, p } = c;
  return new Elysia({ prefix: BASE })
    .use(c.session)
    .get(
      "/analytics",
      async ({ principal, query }) => {
        const range = (query.range !== undefined && query.range in RANGES ? query.range : "7d") as Range;
        const a = await p.queries.analytics(range);
        return c.page(principal, "Analytics", "analytics", AnalyticsPage({ a }), { scripts: [`${BASE}/assets/uplot.min.js`], styles: [`${BASE}/assets/uplot.min.css`] });
      },
      { session: "lead", query: t.Object({ range: t.Optional(t.String({ maxLength: 8, description: Object.keys(RANGES).join(", ") })) }), detail: html("Analytics: volume, sentiment, intents, emerging topics, reply outcomes (lead)") },
    )
    .get(
      "/agents",
      async ({ principal }) => {
        const act = await p.queries.agentActivity();
        const w = d.consumer ?? null;
        const consumer = {
          role: d.role,
          workers: w?.workers ?? [],
          lag: w ? await w.lag().catch(() => null) : null,
          busy: w ? w.busy : null,
          wsClients: p.live.size,
        };
        return c.page(principal, "Agent activity", "agents", AgentsPage({ act, consumer }));
      },
      { session: "lead", detail: html("Agent activity: workers, lag, failures and latency per agent (lead)") },
    )
    .get(
      "/models",
      async ({ principal }) => {
        let report: CalibrationReport | null = null;
        let error: string | undefined;
        if (d.models) {
          const f = Bun.file(d.models.calibrationReport);
          if (await f.exists()) {
            try {
              report = (await f.json()) as CalibrationReport;
            } catch {
              error = "The calibration report is not valid JSON: run `bun run eval:intent --split dev --report` again.";
            }
          }
        }
        return c.page(principal, "Models", "models", ModelsPage({ report, versions: d.models?.versions?.() ?? null, error }));
      },
      { session: "admin", detail: html("Models: intent calibration report and head versions in service (admin)") },
    );
}
