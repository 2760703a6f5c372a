# syntax=docker/dockerfile:1
# voicebot: Node 20 on Debian slim, ffmpeg from apt, non-root, tini as PID 1 so SIGTERM reaches Node.

FROM node:20-bookworm-slim AS base
WORKDIR /app
COPY package.json package-lock.json .npmrc ./

# Production dependencies only. Build tools are here in case better-sqlite3 has no prebuilt binary.
FROM base AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
RUN npm ci --omit=dev --no-audit --no-fund

FROM base AS build
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# For docker-compose.bench.yml: the dev dependencies, espeak-ng for the corpus, ffmpeg.
FROM build AS bench
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng \
 && rm -rf /var/lib/apt/lists/*
COPY bench ./bench
CMD ["npm", "run", "bench", "--", "--quick"]

FROM node:20-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    DATA_DIR=/app/data \
    MODELS_DIR=/app/models \
    HTTP_PORT=8080
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
RUN mkdir -p /app/data /app/models && chown node:node /app/data /app/models
USER node

# Optional: bake a model into the image (e.g. --build-arg PREPULL_MODEL=base) so the first start
# needs no network. A bind mount over /app/models hides it: see README, Deployment.
ARG PREPULL_MODEL=
ARG MODEL_HUB_URL=https://huggingface.co
RUN if [ -n "$PREPULL_MODEL" ]; then MODEL_HUB_URL="$MODEL_HUB_URL" node dist/src/cli/pull-model.js "$PREPULL_MODEL"; fi

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/main.js"]
