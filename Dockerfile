# One image per clearmesh service, from one Dockerfile (docs/deployment.md):
#
#   docker build --build-arg SERVICE=wallet -t clearmesh/wallet .
#
# SERVICE (clearing, bank-adapter, wallet, e-commerce-connector, notifier) picks the process the
# image runs: node dist/$SERVICE.mjs, the service bundled by `npm run build`. Every image holds the whole
# workspace, so the same image also runs deploy/local-sinks.ts and deploy/register-participants.ts
# (docker-compose.yml's `sinks` and `register`).
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: dependencies, with better-sqlite3 compiled when no prebuilt binary fits -----------
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The lock file and every workspace's package.json first, so `npm ci` is cached until they change.
COPY package.json package-lock.json ./
COPY packages/bus/package.json packages/bus/
COPY packages/cli/package.json packages/cli/
COPY packages/contracts/package.json packages/contracts/
COPY packages/runtime/package.json packages/runtime/
COPY packages/store/package.json packages/store/
COPY packages/trust/package.json packages/trust/
COPY services/bank-adapter/package.json services/bank-adapter/
COPY services/clearing/package.json services/clearing/
COPY services/e-commerce-connector/package.json services/e-commerce-connector/
COPY services/notifier/package.json services/notifier/
COPY services/wallet/package.json services/wallet/
# Development dependencies stay: esbuild bundles the services, tsx runs the deploy/*.ts helpers.
RUN npm ci --no-audit --no-fund \
  && node -e "new (require('better-sqlite3'))(':memory:').close(); require('sodium-native')" \
  && npm cache clean --force
COPY tsconfig.json ./
COPY packages packages
COPY services services
COPY scripts/build.ts scripts/
# One JavaScript file per service: plain node runs it, without a TypeScript loader in memory.
RUN npm run build
COPY deploy/healthcheck.mjs deploy/local-sinks.ts deploy/participants.ts deploy/participants.txt deploy/register-participants.ts deploy/

# ---- runtime: no compiler, non-root ------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG SERVICE=clearing
ENV SERVICE=${SERVICE} \
    CLEARMESH_DATA_DIR=/var/lib/clearmesh \
    BIND_HOST=0.0.0.0
WORKDIR /app
# The data folder belongs to the service user: key files are mounted into <data>/keys, the local
# sinks write there; the sources stay root-owned and read-only to it.
RUN mkdir -p /var/lib/clearmesh/keys \
  && chown -R node:node /var/lib/clearmesh \
  && chmod 700 /var/lib/clearmesh/keys
COPY --from=build /app /app
USER node
# docker-compose.yml overrides the timing and names the port; this serves `docker run`.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "deploy/healthcheck.mjs"]
STOPSIGNAL SIGTERM
# The V8 flags cap the young generation and the old generation's growth (packages/cli/src/start.ts SERVICE_NODE_FLAGS; docs/performance.md).
CMD ["sh", "-c", "exec node --max-semi-space-size=4 --heap-growing-percent=50 \"dist/$SERVICE.mjs\""]
