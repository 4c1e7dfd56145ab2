/** The parts of an OpenAPI 3.1 document the docs page reads. */
export interface DocSpec {
  info: { title: string; version: string; description?: string };
  tags: { name: string; description?: string }[];
  paths: Record<string, Record<string, DocOperation>>;
  components: { securitySchemes: Record<string, { type: string; scheme?: string; in?: string; name?: string; description?: string }>; responses: Record<string, { description: string }> };
}

/** One operation as the page shows it. */
interface DocOperation {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string; required?: boolean; schema?: unknown }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string; $ref?: string; content?: Record<string, { schema?: unknown }> }>;
}

const json = (v: unknown) => JSON.stringify(v, null, 2);

/** Who may call an operation, in words. */
function authText(security: DocOperation["security"]): string {
  if (!security || security.length === 0) return "public";
  return security
    .map((req) => {
      const parts = Object.entries(req).map(([scheme, scopes]) => (scopes.length ? `${scheme} (${scopes.join(", ")})` : scheme));
      return parts.length ? parts.join(" + ") : "none";
    })
    .join(" or ");
}

function Operation({ method, path, op, responses }: { method: string; path: string; op: DocOperation; responses: DocSpec["components"]["responses"] }): JSX.Element {
  const id = `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, "-");
  const body = op.requestBody?.content ?? {};
  return (
    <section class="op" id={id}>
      <h3>
        <span class={`method m-${method}`}>{method.toUpperCase()}</span> <code safe>{path}</code>
      </h3>
      {op.summary ? <p safe>{op.summary}</p> : ""}
      {op.description ? <p class="desc" safe>{op.description}</p> : ""}
      <p class="auth">
        Auth: <span safe>{authText(op.security)}</span>
      </p>
      {op.parameters?.length ? (
        <table>
          <caption>Parameters</caption>
          <thead>
            <tr>
              <th>name</th>
              <th>in</th>
              <th>required</th>
              <th>schema</th>
            </tr>
          </thead>
          <tbody>
            {op.parameters.map((p) => (
              <tr>
                <td>
                  <code safe>{p.name}</code>
                </td>
                <td safe>{p.in}</td>
                <td>{p.required ? "yes" : "no"}</td>
                <td>
                  <code safe>{JSON.stringify(p.schema ?? {})}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        ""
      )}
      {Object.entries(body).map(([type, c]) => (
        <details>
          <summary>
            Request body <code safe>{type}</code>
          </summary>
          <pre safe>{json(c.schema ?? {})}</pre>
        </details>
      ))}
      <ul class="responses">
        {Object.entries(op.responses ?? {}).map(([status, r]) => {
          const shared = r.$ref ? responses[r.$ref.split("/").pop() ?? ""] : undefined;
          const content = Object.entries(r.content ?? {});
          return (
            <li>
              <strong safe>{status}</strong> <span safe>{shared?.description ?? r.description ?? ""}</span>
              {r.$ref ? <span class="muted"> (error body: Error)</span> : ""}
              {content.map(([type, c]) => (
                <details>
                  <summary>
                    <code safe>{type}</code>
                  </summary>
                  <pre safe>{json(c.schema ?? {})}</pre>
                </details>
              ))}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** The API reference rendered on the server from the OpenAPI document: no scripts and no external assets. */
export function ApiDocsPage({ spec, links }: { spec: DocSpec; links: { spec: string; widgetSocket: string } }): JSX.Element {
  const ops = Object.entries(spec.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title safe>{`${spec.info.title} ${spec.info.version}`}</title>
        <style>{`
          body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: #14213d; background: #f6f7fb; }
          main { max-width: 1000px; margin: 0 auto; padding: 24px; }
          nav ul { columns: 2; padding-left: 18px; }
          .op { background: #fff; border: 1px solid #d7dde8; border-radius: 8px; padding: 4px 16px 12px; margin: 12px 0; }
          .op h3 { font-size: 16px; }
          .method { display: inline-block; min-width: 62px; text-align: center; border-radius: 4px; padding: 1px 6px; color: #fff; background: #55627a; font-size: 12px; }
          .m-get { background: #1d6fb8; } .m-post { background: #1f8a4c; } .m-options { background: #7a5a1d; }
          .auth, .muted { color: #55627a; font-size: 13px; }
          pre { background: #14213d; color: #eef2f9; padding: 10px; border-radius: 6px; overflow-x: auto; font-size: 12px; }
          table { border-collapse: collapse; font-size: 13px; margin: 6px 0; } td, th { border: 1px solid #d7dde8; padding: 3px 8px; text-align: left; }
          caption { text-align: left; font-weight: 600; }
          code { font-size: 13px; }
        `}</style>
      </head>
      <body>
        <main>
          <h1 safe>{spec.info.title}</h1>
          <p>
            Version <span safe>{spec.info.version}</span>. Machine-readable: <a href={links.spec}>OpenAPI 3.1 document</a>. Chat socket frames:{" "}
            <a href={links.widgetSocket}>JSON Schema of the widget socket protocol</a>.
          </p>
          {spec.info.description ? <p safe>{spec.info.description}</p> : ""}
          <h2>Authentication</h2>
          <dl>
            {Object.entries(spec.components.securitySchemes).map(([name, s]) => (
              <>
                <dt>
                  <code safe>{name}</code> <span class="muted" safe>{[s.type, s.scheme, s.in, s.name].filter(Boolean).join(" · ")}</span>
                </dt>
                <dd safe>{s.description ?? ""}</dd>
              </>
            ))}
          </dl>
          <nav aria-label="Operations">
            <h2>Operations</h2>
            <ul>
              {ops.map(({ path, method, op }) => (
                <li>
                  <a href={`#${`${method}-${path}`.replace(/[^A-Za-z0-9]+/g, "-")}`}>
                    <code safe>{`${method.toUpperCase()} ${path}`}</code>
                  </a>{" "}
                  <span class="muted" safe>{op.summary ?? ""}</span>
                </li>
              ))}
            </ul>
          </nav>
          {spec.tags.map((tag) => {
            const mine = ops.filter((o) => (o.op.tags?.[0] ?? "other") === tag.name);
            if (!mine.length) return "";
            return (
              <section>
                <h2 safe>{tag.name}</h2>
                {tag.description ? <p safe>{tag.description}</p> : ""}
                {mine.map((o) => (
                  <Operation method={o.method} path={o.path} op={o.op} responses={spec.components.responses} />
                ))}
              </section>
            );
          })}
          {(() => {
            const untagged = ops.filter((o) => !spec.tags.some((t) => t.name === o.op.tags?.[0]));
            if (!untagged.length) return "";
            return (
              <section>
                <h2>other</h2>
                {untagged.map((o) => (
                  <Operation method={o.method} path={o.path} op={o.op} responses={spec.components.responses} />
                ))}
              </section>
            );
          })()}
        </main>
      </body>
    </html>
  );
}
