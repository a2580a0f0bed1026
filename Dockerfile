# cwa-gateway in a container: node:20-slim, built in one stage, run as the unprivileged
# `node` user in another with production dependencies only.
#   docker build -t cwa-gateway .
#   docker run -p 8080:8080 -v cwa-data:/data -v ./users.json:/etc/cwa/users.json:ro \
#     -e CWA_USERS=/etc/cwa/users.json cwa-gateway
# Without CWA_USERS the gateway serves the published demo users (and warns): never expose that.

FROM node:20-slim AS build
# better-sqlite3 is a native module: a toolchain for when no prebuilt binary fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
# The client library's package is a workspace of the repository: npm ci needs its manifest, the build its script.
COPY packages/client ./packages/client
COPY scripts ./scripts
COPY src ./src
COPY bin ./bin
COPY schemas ./schemas
# npm ci runs `prepare`, which builds dist/ (tsc, then esbuild for the web client); then the dev dependencies go.
RUN npm ci && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    CWA_DATA_DIR=/data
WORKDIR /app
# Owned by root, read-only to the user the gateway runs as.
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/web ./dist/web
COPY --from=build /app/bin ./bin
COPY --from=build /app/schemas ./schemas
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# /readyz: 200 while serving, 503 while shutting down or (with Redis) while the store is out of reach.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/cwa-gateway.js"]
CMD ["serve"]
