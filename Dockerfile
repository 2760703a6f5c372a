# syntax=docker/dockerfile:1
# voicebot: Node 20 on Debian slim. The runtime stage adds ~145 MB to node:20-bookworm-slim: the
# production node_modules for this platform only, a 2 MB ffmpeg built for the bot, tini.
# Build it with `--target runtime` (docker-compose.prod.yml does): the last stage is the benchmark's.

# ffmpeg with only the demuxers and decoders the bot needs, from Debian's source (see the script).
# Its own stage, keyed on the script alone: rebuilding the bot does not rebuild it.
FROM node:20-bookworm-slim AS ffmpeg
COPY deploy/docker/build-ffmpeg.sh /usr/local/bin/
RUN build-ffmpeg.sh /opt/ffmpeg

# All dependencies, installed once. The build tools are for native modules whose prebuilt binary
# cannot be downloaded (better-sqlite3 then compiles from source), against the headers of the
# image's own Node (node-gyp would otherwise download them too).
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# The same node_modules, cut down to what the running bot loads on this platform.
FROM build AS runtime-modules
COPY deploy/docker/runtime-modules.mjs ./deploy/docker/
RUN npm prune --omit=dev --no-audit --no-fund \
 && node deploy/docker/runtime-modules.mjs prune /app

FROM node:20-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY --from=ffmpeg /opt/ffmpeg/ /usr/local/
ENV NODE_ENV=production \
    DATA_DIR=/app/data \
    MODELS_DIR=/app/models \
    HTTP_PORT=8080
# The default memory profile (README, Memory): every thread allocates from one heap, so what the
# encoder frees on one of libuv's threads the decoder reuses on another (an arena per thread kept
# each one's high-water mark: base peaked ~35 MB higher); buffers of 1 MiB or more (activations,
# cross-attention keys and values) are mapped alone and unmapped on free; the rest stays in the
# heap for the next window. With glibc's defaults a worker thread's heap was unmapped when it
# emptied, and each window's first decoder step faulted its outputs in again (small: up to 0.6 s a
# window). The lean profile (.env) lowers the mmap threshold to 131072.
ENV MALLOC_ARENA_MAX=1 \
    MALLOC_MMAP_THRESHOLD_=1048576 \
    MALLOC_TRIM_THRESHOLD_=4294967295
WORKDIR /app
# Code and dependencies stay root's: the bot reads them and writes only DATA_DIR and MODELS_DIR.
COPY --from=runtime-modules /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY deploy/docker/entrypoint.sh /usr/local/bin/voicebot-entrypoint
RUN chmod 755 /usr/local/bin/voicebot-entrypoint \
 && mkdir -p /app/data /app/models && chown node:node /app/data /app/models

# Optional: bake a model into the image (e.g. --build-arg PREPULL_MODEL=base) so the first start
# needs no network. A bind mount over /app/models hides it: see README, Deployment. Downloaded as
# the bot's user, so the entrypoint has nothing to hand over at start.
ARG PREPULL_MODEL=
ARG MODEL_HUB_URL=https://huggingface.co
USER node
RUN if [ -n "$PREPULL_MODEL" ]; then MODEL_HUB_URL="$MODEL_HUB_URL" node dist/src/cli/pull-model.js "$PREPULL_MODEL"; fi
# Root only until the entrypoint has handed DATA_DIR and MODELS_DIR over; Node runs as node.
USER root

EXPOSE 8080
# Liveness: the process answers. Not /readyz, which is 503 while a first model downloads (a restart
# would start it over); an unreachable Telegram the bot retries itself, and a restart would not help.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The only init: tini reaps zombies and passes SIGTERM on; compose must not add its own (init: true).
ENTRYPOINT ["/usr/bin/tini", "--", "voicebot-entrypoint"]
CMD ["node", "dist/src/main.js"]

# For docker-compose.bench.yml (target: bench): the dev dependencies, espeak-ng for the corpus, and
# Debian's full ffmpeg, whose Opus encoder makes the corpus. Last, so that building the runtime
# (the default target) never builds it.
FROM build AS bench
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng \
 && rm -rf /var/lib/apt/lists/*
COPY bench ./bench
CMD ["npm", "run", "bench", "--", "--quick"]
