# syntax=docker/dockerfile:1
#
# One image build, three deployables. Build a single app with its target:
#   docker build --target web       -t drumline-web .
#   docker build --target worker    -t drumline-worker .
#   docker build --target scheduler -t drumline-scheduler .
# docker-compose.yml builds all three from here.

ARG NODE_IMAGE=node:20-slim

# ---------------------------------------------------------------------------
# base: Node 20 + the pnpm the repo pins. Corepack is not used: `npm i -g` is
# the one install path that behaves the same here, in CI and on laptops.
FROM ${NODE_IMAGE} AS base
ENV PNPM_HOME=/pnpm \
    PNPM_STORE_DIR=/pnpm/store \
    TURBO_TELEMETRY_DISABLED=1 \
    CI=true
RUN npm i -g pnpm@12.21.0 && pnpm --version
WORKDIR /repo

# ---------------------------------------------------------------------------
# build: install every workspace dependency, compile, then cut one
# self-contained production folder per app with `pnpm deploy`.
FROM base AS build
# The lockfile alone decides what is downloaded, so this layer survives source edits.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN --mount=type=cache,id=drumline-pnpm-store,target=/pnpm/store \
    pnpm fetch --store-dir "$PNPM_STORE_DIR"
COPY . .
RUN --mount=type=cache,id=drumline-pnpm-store,target=/pnpm/store \
    pnpm install --offline --frozen-lockfile --store-dir "$PNPM_STORE_DIR"
# The three apps and what they depend on; bench/ and tests are not shipped.
RUN pnpm exec turbo run build --filter=@drumline/web --filter=@drumline/worker --filter=@drumline/scheduler
# `pnpm deploy` copies an app with only its production dependencies; the
# workspace packages it uses (@drumline/core, @drumline/jobs) are copied in
# with their built dist/. Sources, tests and build leftovers are then dropped.
RUN --mount=type=cache,id=drumline-pnpm-store,target=/pnpm/store \
    for app in web worker scheduler; do \
      pnpm --filter "@drumline/$app" deploy --prod --store-dir "$PNPM_STORE_DIR" "/prod/$app" \
      && rm -rf "/prod/$app/src" "/prod/$app/test" "/prod/$app/.turbo" /prod/$app/tsconfig*.json \
      && test -f "/prod/$app/dist/main.js" || exit 1; \
    done

# ---------------------------------------------------------------------------
# runtime: no pnpm, no compilers, no sources. The app's files belong to root,
# so the `node` user that runs it cannot rewrite its own code.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
USER node
CMD ["node", "dist/main.js"]

FROM runtime AS worker
COPY --from=build /prod/worker /app
EXPOSE 9100

FROM runtime AS scheduler
COPY --from=build /prod/scheduler /app
EXPOSE 9100

# Last, so a plain `docker build .` yields the web app.
FROM runtime AS web
COPY --from=build /prod/web /app
ENV HOST=0.0.0.0 PORT=3000
EXPOSE 3000
