# syntax=docker/dockerfile:1.7
# Support copilot image: Bun runtime, production dependencies only, local models and knowledge base baked in.
# Build:  docker build -t support-copilot:0.1.0 .
# Run:    docker run -p 3000:3000 -e API_KEYS_FILE=/run/secrets/api_keys ... support-copilot:0.1.0
ARG BUN_VERSION=1.4.5

# --- deps: full install, which builds the hnswlib-node addon (node-gyp from devDependencies, Node headers from Debian)
FROM oven/bun:${BUN_VERSION}-debian AS deps
WORKDIR /build
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    npm_config_nodedir=/usr
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ nodejs \
 && rm -rf /var/lib/apt/lists/*
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile

# --- prod-deps: production dependencies without install scripts, plus the addon built above
FROM oven/bun:${BUN_VERSION}-debian AS prod-deps
WORKDIR /build
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile --production --ignore-scripts
COPY --from=deps /build/node_modules/hnswlib-node/build ./node_modules/hnswlib-node/build

# --- runtime: slim Debian (glibc, for onnxruntime-node), non-root, read-only code
FROM oven/bun:${BUN_VERSION}-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    ROLE=all \
    ONNXRUNTIME_NODE_INSTALL=skip
COPY --from=prod-deps /build/node_modules ./node_modules
COPY package.json bun.lock bunfig.toml tsconfig.json ./
COPY src ./src
COPY views ./views
COPY models ./models
COPY kb ./kb
# The only writable path: embedded database, vector index and caches (mount a volume here).
RUN mkdir -p /app/.data && chown 1000:1000 /app/.data
# uid 1000 is the image's unprivileged "bun" user; numeric so Kubernetes runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["bun", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["bun", "src/main.ts"]
