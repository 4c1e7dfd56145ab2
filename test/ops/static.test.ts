import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { buildApp } from "../../src/http/app.ts";
import { createLogger } from "../../src/obs/log.ts";
import { Metrics } from "../../src/obs/metrics.ts";

const ROOT = join(import.meta.dir, "../..");
const TOOLS = join(ROOT, ".tools/ops");
const read = (p: string) => readFileSync(join(ROOT, p), "utf8");
// Measured RSS in MiB (docs/operations.md, "Sizing"): requests must sit above them.
const MEASURED_RSS_MIB = { api: 98, worker: 115 + 145, drafter: 364 };

type Doc = Record<string, any>;

function run(cmd: string[], env: Record<string, string> = {}): { code: number; out: string } {
  const p = Bun.spawnSync(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? 1, out: `${p.stdout.toString()}${p.stderr.toString()}` };
}

function which(name: string): string | null {
  return Bun.which(name) ?? null;
}

/** Installs the checkers (deploy/tools.sh) unless present; a failure to install is reported by the tests using them. */
let toolsError = "";
beforeAll(() => {
  const r = run(["bash", "deploy/tools.sh"]);
  if (r.code !== 0) toolsError = r.out;
}, 300_000);

function kustomize(dir: string): string {
  const kubectl = which("kubectl");
  const r = kubectl ? run([kubectl, "kustomize", dir]) : run([join(TOOLS, "bin/kustomize"), "build", dir]);
  if (r.code !== 0) throw new Error(`kustomize ${dir} failed:\n${r.out}`);
  return r.out;
}

const mib = (q: string): number => {
  const m = /^(\d+(?:\.\d+)?)(Mi|Gi)$/.exec(q);
  if (!m) throw new Error(`unexpected memory quantity ${q}`);
  return Number(m[1]) * (m[2] === "Gi" ? 1024 : 1);
};

describe("compose.yaml", () => {
  const compose = parse(read("compose.yaml"), { merge: true }) as Doc;
  const services = compose.services as Record<string, Doc>;

  test("has the full laptop stack with a consumer-only worker", () => {
    for (const s of ["kafka", "redis", "postgres", "ollama", "ollama-init", "app", "worker", "prometheus", "grafana"]) expect(services[s], s).toBeDefined();
    expect(services.app!.environment.ROLE).toBe("all");
    expect(services.worker!.environment.ROLE).toBe("worker");
    expect(services.app!.build.dockerfile).toBe("Dockerfile");
    expect(services.app!.ports).toContain("3000:3000");
  });

  test("every image is pinned to an exact version tag, never latest", () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.image, `${name} has an image`).toBeString();
      const m = /^([a-z0-9./_-]+):([A-Za-z0-9._-]+)$/.exec(s.image);
      expect(m, `${name}: ${s.image} has a tag`).not.toBeNull();
      expect(m![2], `${name} tag`).not.toBe("latest");
      // x.y.z, or x.y for images whose upstream versions have two parts (PostgreSQL).
      expect(m![2], `${name}: ${s.image} names an exact version`).toMatch(s.image.startsWith("postgres:") ? /^\d+\.\d+-/ : /\d+\.\d+\.\d+/);
    }
  });

  test("infrastructure has healthchecks and the app waits for them", () => {
    for (const s of ["kafka", "redis", "postgres", "ollama"]) expect(services[s]!.healthcheck?.test, `${s} healthcheck`).toBeArray();
    for (const dep of ["kafka", "redis", "postgres"]) expect(services.app!.depends_on[dep].condition).toBe("service_healthy");
  });

  test("secrets are files read through *_FILE variables and every reference is declared", () => {
    const declared = Object.keys(compose.secrets);
    for (const [name, s] of Object.entries(services)) for (const ref of s.secrets ?? []) expect(declared, `${name} uses ${ref}`).toContain(ref);
    const env = services.app!.environment as Record<string, string>;
    expect(env.API_KEYS_FILE).toBe("/run/secrets/api_keys");
    expect(env.DATABASE_URL_FILE).toBe("/run/secrets/database_url");
    expect(Object.keys(env).some((k) => /PASSWORD$|^API_KEYS$|^DATABASE_URL$/.test(k))).toBe(false);
    // Every variable given to the app is one that the config sections (src/config/*.ts) read.
    const config = readdirSync(join(ROOT, "src/config"))
      .map((f) => read(`src/config/${f}`))
      .join("\n");
    for (const k of Object.keys(env)) {
      const base = k.replace(/_FILE$/, "");
      expect(config.includes(`"${base}"`) || config.includes(`"${k}"`) || config.includes(`env.${base}`), `${k} is read by src/config/`).toBe(true);
    }
  });

  test("named volumes are declared and bind mounts point at files in the repo", () => {
    const named = Object.keys(compose.volumes);
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        const src = String(v).split(":")[0]!;
        if (src.startsWith("./")) expect(existsSync(join(ROOT, src)), `${name} mounts ${src}`).toBe(true);
        else expect(named, `${name} volume ${src}`).toContain(src);
      }
    }
  });

  test("Ollama registers the default model from models/Modelfile, else pulls it", () => {
    const init = services["ollama-init"]!;
    expect(init.volumes).toContain("./models:/models:ro");
    expect(init.command.join(" ")).toContain("ollama create \"$$OLLAMA_MODEL\" -f /models/Modelfile");
    expect(init.command.join(" ")).toContain("ollama pull");
    expect(init.environment.OLLAMA_MODEL).toBe(services.app!.environment.OLLAMA_MODEL);
  });

  test("Prometheus scrapes app and worker on the port the app listens on", () => {
    const prom = parse(read("deploy/prometheus/prometheus.yml")) as Doc;
    const jobs = prom.scrape_configs as Doc[];
    for (const svc of ["app", "worker"]) {
      const job = jobs.find((j) => j.dns_sd_configs?.[0]?.names?.includes(svc));
      expect(job, `scrape job for ${svc}`).toBeDefined();
      expect(job!.metrics_path).toBe("/metrics");
      expect(job!.dns_sd_configs[0].port).toBe(3000);
    }
  });
});

describe("Dockerfile", () => {
  const text = read("Dockerfile");
  const lines = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const instr = (k: string) => lines.filter((l) => l.toUpperCase().startsWith(`${k} `));

  test("passes hadolint", () => {
    expect(toolsError).toBe("");
    const r = run([join(TOOLS, "py/bin/hadolint"), "--failure-threshold", "info", "Dockerfile"]);
    expect(r.out.trim()).toBe("");
    expect(r.code).toBe(0);
  });

  test("multi-stage on the official Bun image, pinned, non-root, production dependencies, healthcheck on /health", () => {
    const froms = instr("FROM");
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const bunVersion = /ARG BUN_VERSION=(\S+)/.exec(text)?.[1];
    expect(bunVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(bunVersion).toBe(JSON.parse(read("package.json")).engines.bun);
    for (const f of froms) expect(f).toMatch(/^FROM oven\/bun:\$\{BUN_VERSION\}-(debian|slim) AS [a-z-]+$/);
    expect(froms.at(-1)).toContain("-slim");
    expect(text).toContain("bun install --frozen-lockfile --production");
    const user = instr("USER").at(-1)!;
    expect(user).toMatch(/^USER [1-9]\d*:[1-9]\d*$/);
    expect(instr("HEALTHCHECK")[0]).toContain("/health");
    expect(instr("CMD").at(-1)).toBe('CMD ["bun", "src/main.ts"]');
    // Every COPY from the build context names something that exists, and models/ and kb/ are copied in.
    const copies = instr("COPY").filter((c) => !c.includes("--from="));
    for (const c of copies) for (const src of c.split(/\s+/).slice(1, -1)) expect(existsSync(join(ROOT, src)), `COPY ${src}`).toBe(true);
    expect(copies.some((c) => c.startsWith("COPY models "))).toBe(true);
    expect(copies.some((c) => c.startsWith("COPY kb "))).toBe(true);
  });

  test(".dockerignore keeps the context small and secret-free", () => {
    const ignore = read(".dockerignore").split("\n").map((l) => l.trim());
    for (const p of ["node_modules", ".git", ".services", ".data", ".secrets", "test", "models/**/*.gguf", ".env"]) expect(ignore, p).toContain(p);
  });
});

describe("Kubernetes manifests", () => {
  const overlays = readdirSync(join(ROOT, "deploy/k8s/overlays"));
  const rendered = new Map<string, Doc[]>();
  beforeAll(() => {
    for (const o of overlays) rendered.set(o, parseAllDocuments(kustomize(`deploy/k8s/overlays/${o}`)).map((d) => d.toJSON() as Doc));
  }, 60_000);

  test("overlays dev, production and keda render with kustomize", () => {
    expect(overlays.sort()).toEqual(["dev", "keda", "production"]);
    for (const o of overlays) expect(rendered.get(o)!.length, o).toBeGreaterThan(8);
  });

  test("core resources are valid against the Kubernetes 1.30 and 1.37 schemas (strict)", async () => {
    expect(toolsError).toBe("");
    const files: string[] = [];
    for (const [o, docs] of rendered) {
      const core = docs.filter((d) => !String(d.apiVersion).includes("keda.sh"));
      const file = `/tmp/copilot-k8s-${o}-${process.pid}.yaml`;
      await Bun.write(file, core.map((d) => JSON.stringify(d)).join("\n---\n"));
      files.push(file);
    }
    for (const version of ["1.30.0", "1.37.0"]) {
      const r = run(["python3", join(TOOLS, "py/bin/kubernetes-validate"), "--strict", "--quiet", "-k", version, ...files], { PYTHONPATH: join(TOOLS, "py") });
      expect(r.out.trim(), `Kubernetes ${version}`).toBe("");
      expect(r.code, `Kubernetes ${version}`).toBe(0);
    }
  }, 60_000);

  test("api, worker and drafter Deployments have probes, sized resources, non-root security and secret files", () => {
    for (const [o, docs] of rendered) {
      const deps = docs.filter((d) => d.kind === "Deployment");
      expect(deps.map((d) => d.metadata.name).sort(), o).toEqual(["support-copilot-api", "support-copilot-drafter", "support-copilot-worker"]);
      for (const d of deps) {
        const role = d.metadata.name.replace("support-copilot-", "") as keyof typeof MEASURED_RSS_MIB;
        const pod = d.spec.template.spec;
        const c = pod.containers[0];
        expect(c.env.find((e: Doc) => e.name === "ROLE").value).toBe(role);
        expect(c.readinessProbe.httpGet.path).toBe("/ready");
        expect(c.livenessProbe.httpGet.path).toBe("/health");
        expect(c.startupProbe.httpGet.path).toBe("/health");
        expect(c.resources.requests.cpu).toBeString();
        expect(mib(c.resources.requests.memory), `${o}/${role} memory request above measured RSS`).toBeGreaterThan(MEASURED_RSS_MIB[role]);
        expect(mib(c.resources.limits.memory)).toBeGreaterThanOrEqual(mib(c.resources.requests.memory) * 1.5);
        expect(pod.securityContext.runAsNonRoot).toBe(true);
        expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
        expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
        expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
        // Secrets only as mounted files; no secret value sits in env.
        for (const e of c.env) if (/KEYS|URL|PASSWORD|DSN/.test(e.name)) expect(e.name, "secret passed as *_FILE").toMatch(/_FILE$/);
        expect(pod.volumes.find((v: Doc) => v.name === "secrets").secret.secretName).toBe("support-copilot-secrets");
        // The ConfigMap it reads is in the same rendering.
        const cm = c.envFrom[0].configMapRef.name;
        expect(docs.some((x) => x.kind === "ConfigMap" && x.metadata.name === cm), `${o} ConfigMap ${cm}`).toBe(true);
      }
    }
  });

  test("Services, PDBs and autoscalers select and target the Deployments", () => {
    for (const [o, docs] of rendered) {
      const deps = docs.filter((d) => d.kind === "Deployment");
      const labelsOf = (name: string) => deps.find((d) => d.metadata.name === name)!.spec.template.metadata.labels as Record<string, string>;
      const matches = (sel: Record<string, string>, name: string) => Object.entries(sel).every(([k, v]) => labelsOf(name)[k] === v);
      const svc = docs.find((d) => d.kind === "Service" && d.metadata.name === "support-copilot-api")!;
      expect(matches(svc.spec.selector, "support-copilot-api"), `${o} Service`).toBe(true);
      for (const name of ["support-copilot-api", "support-copilot-worker"]) {
        const pdb = docs.find((d) => d.kind === "PodDisruptionBudget" && matches(d.spec.selector.matchLabels, name) && Object.keys(d.spec.selector.matchLabels).length > 1);
        expect(pdb, `${o} PDB for ${name}`).toBeDefined();
        const scalers = docs.filter((d) => (d.kind === "HorizontalPodAutoscaler" || d.kind === "ScaledObject") && d.spec.scaleTargetRef.name === name);
        expect(scalers.length, `${o}: exactly one autoscaler for ${name}`).toBe(1);
        const hpa = scalers[0]!;
        if (hpa.kind === "HorizontalPodAutoscaler") {
          expect(hpa.spec.metrics[0].resource.name).toBe("cpu");
          expect(hpa.spec.minReplicas).toBeLessThanOrEqual(hpa.spec.maxReplicas);
        }
      }
    }
  });

  test("production turns on Kafka TLS + SASL SCRAM-SHA-512 and mounts the CA; KEDA scales workers on the master group's lag", () => {
    const prod = rendered.get("production")!;
    const cm = prod.find((d) => d.kind === "ConfigMap")!.data as Record<string, string>;
    expect(cm.KAFKA_SSL).toBe("true");
    expect(cm.KAFKA_SASL_MECHANISM).toBe("scram-sha-512");
    expect(cm.KAFKA_SASL_PASSWORD_FILE).toStartWith("/run/secrets/copilot/");
    for (const d of prod.filter((x) => x.kind === "Deployment")) {
      const mounts = d.spec.template.spec.containers[0].volumeMounts as Doc[];
      expect(mounts.find((m) => m.name === "ca")?.mountPath).toBe(cm.KAFKA_SSL_CA_FILE!.replace(/\/ca\.pem$/, ""));
    }
    const keda = rendered.get("keda")!;
    const so = keda.find((d) => d.kind === "ScaledObject")!;
    expect(so.spec.scaleTargetRef.name).toBe("support-copilot-worker");
    const kafka = so.spec.triggers.find((t: Doc) => t.type === "kafka");
    expect(kafka.metadata.consumerGroup).toBe(cm.KAFKA_GROUP_ID);
    expect(kafka.metadata.topic).toBe(cm.TOPIC_CUSTOMER_MESSAGES);
    expect(kafka.metadata.sasl).toBe("scram_sha512");
    expect(so.spec.maxReplicaCount).toBeLessThanOrEqual(Number(cm.KAFKA_PARTITIONS));
    const auth = keda.find((d) => d.kind === "TriggerAuthentication")!;
    expect(kafka.authenticationRef.name).toBe(auth.metadata.name);
  });
});

describe("Grafana and Prometheus rules", () => {
  /** Metric names in PromQL: identifiers followed by `{` or `[`, plus bare names with the app's prefixes. */
  function metricNames(expr: string): string[] {
    const names = new Set<string>();
    const cleaned = expr.replace(/\{[^}]*\}/g, (m) => `{${" ".repeat(m.length - 2)}}`);
    for (const m of cleaned.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{[]/g)) names.add(m[1]!);
    for (const m of expr.matchAll(/\b((?:copilot|process|nodejs)_[a-z0-9_]+)\b/g)) names.add(m[1]!);
    return [...names];
  }
  const base = (n: string) => n.replace(/_(bucket|sum|count)$/, "");

  test("every metric the dashboard and the alert rules query is exported on /metrics", async () => {
    const metrics = new Metrics();
    const app = buildApp({ log: createLogger("silent"), metrics, checks: [], features: [] });
    const text = await (await app.handle(new Request("http://localhost/metrics"))).text();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)/gm)].map((m) => m[1]!));
    // The registry is the source of truth: read the names from it, not from a list.
    const registered = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    expect(registered.length).toBeGreaterThan(20);
    for (const n of registered) expect(exported.has(n), `${n} on /metrics`).toBe(true);

    const dash = JSON.parse(read("deploy/grafana/dashboards/support-copilot.json")) as Doc;
    const exprs: string[] = [];
    for (const p of dash.panels) for (const t of p.targets ?? []) exprs.push(t.expr);
    const rules = parse(read("deploy/prometheus/alerts.yml")) as Doc;
    for (const g of rules.groups) for (const r of g.rules) exprs.push(r.expr);
    expect(exprs.length).toBeGreaterThan(20);
    const used = new Set(exprs.flatMap(metricNames));
    used.delete("up"); // Prometheus' own per-target series
    for (const n of used) expect(exported.has(base(n)) || exported.has(n), `${n} is exported by the app`).toBe(true);
    // The panels are all there.
    for (const m of ["copilot_messages_processed_total", "copilot_worker_duration_seconds_bucket", "copilot_dlq_total", "copilot_kafka_consumer_lag", "copilot_results_classified_total", "copilot_llm_tokens_per_second_bucket", "copilot_llm_time_to_first_token_seconds_bucket"]) expect(used.has(m), m).toBe(true);
  });

  test("dashboard JSON is well-formed for provisioning: unique ids, Prometheus datasource, grid inside 24 columns", () => {
    const dash = JSON.parse(read("deploy/grafana/dashboards/support-copilot.json")) as Doc;
    expect(dash.uid).toBe("support-copilot");
    const ids = dash.panels.map((p: Doc) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dash.panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      if (p.type !== "row") expect(p.datasource.uid).toBe("prometheus");
    }
    const ds = parse(read("deploy/grafana/provisioning/datasources/prometheus.yaml")) as Doc;
    expect(ds.datasources[0].uid).toBe("prometheus");
    const prov = parse(read("deploy/grafana/provisioning/dashboards/support-copilot.yaml")) as Doc;
    expect(prov.providers[0].options.path).toBe("/var/lib/grafana/dashboards");
  });
});

describe("Ollama: compose, Kubernetes and scripts/services.sh serve the same model", () => {
  const compose = parse(read("compose.yaml"), { merge: true }) as Doc;
  const services = compose.services as Record<string, Doc>;
  const script = read("scripts/services.sh");
  const version = /^OLLAMA_VERSION=(\S+)$/m.exec(script)?.[1];
  const model = /^OLLAMA_MODEL_NAME=(\S+)$/m.exec(script)?.[1] ?? "(missing in services.sh)";
  const composeDefault = (v: string) => /^\$\{OLLAMA_MODEL:-([^}]+)\}$/.exec(v)?.[1] ?? v;

  test("one model name and one Ollama version everywhere", () => {
    expect(model).toBe("support-copilot");
    const docs = parseAllDocuments(kustomize("deploy/k8s/ollama")).map((d) => d.toJSON() as Doc);
    const base = parseAllDocuments(kustomize("deploy/k8s/base")).map((d) => d.toJSON() as Doc);
    const appConfig = base.find((d) => d.kind === "ConfigMap" && d.metadata.name === "support-copilot-config")!;
    const ollamaConfig = docs.find((d) => d.kind === "ConfigMap" && d.metadata.name === "ollama-model")!;
    expect(appConfig.data.OLLAMA_MODEL).toBe(model);
    expect(ollamaConfig.data.OLLAMA_MODEL).toBe(model);
    expect(composeDefault(services.app!.environment.OLLAMA_MODEL)).toBe(model);
    expect(composeDefault(services["ollama-init"]!.environment.OLLAMA_MODEL)).toBe(model);
    const sts = docs.find((d) => d.kind === "StatefulSet")!;
    const images = [...sts.spec.template.spec.containers.map((c: Doc) => c.image), services.ollama!.image, services["ollama-init"]!.image];
    for (const i of images) expect(i).toBe(`ollama/ollama:${version}`);
    // The app reaches the Service `ollama` in the namespace `ollama`.
    const svc = docs.find((d) => d.kind === "Service")!;
    expect(appConfig.data.OLLAMA_HOST).toBe(`http://${svc.metadata.name}.${svc.metadata.namespace}.svc:${svc.spec.ports[0].port}`);
  });

  test("Kubernetes registers the model from the repo's Modelfile (copied into the models volume), never a pull", () => {
    const docs = parseAllDocuments(kustomize("deploy/k8s/ollama")).map((d) => d.toJSON() as Doc);
    const sts = docs.find((d) => d.kind === "StatefulSet")!;
    const register = sts.spec.template.spec.containers.find((c: Doc) => c.name === "register-model");
    expect(register.workingDir).toBe("/models");
    expect(register.volumeMounts).toContainEqual({ name: "models", mountPath: "/models" });
    const cmd = register.args.join(" ");
    expect(cmd).toContain('ollama create "$OLLAMA_MODEL" -f Modelfile');
    expect(cmd).not.toContain("ollama pull");
    expect(register.envFrom).toContainEqual({ configMapRef: { name: "ollama-model" } });
    // The Modelfile's FROM is relative to models/, as the register loop and compose's /models mount expect.
    expect(read("models/Modelfile")).toMatch(/^FROM \.\/llm\/\S+\.gguf$/m);
  });
});
