#!/bin/sh
# The container starts as root only for this: a fresh `git clone` as root leaves ./data and
# ./models root-owned, and the bind mounts hide the image's own folders, so the bot (uid 1000, the
# image's `node`) could write neither. Hand DATA_DIR and MODELS_DIR, and nothing else, to that
# user, then become it for good before Node starts: setpriv exec()s, so Node keeps this PID and
# gets tini's signals directly. Started as another user (`user:` in compose), it changes nothing.
set -eu

BOT_UID=1000
BOT_GID=1000

# One JSON line shaped like the bot's pino lines, so the first lines of `docker logs` read alike.
say() {
  level=$1
  shift
  msg=$(printf '%s' "$*" | sed 's/\\/\\\\/g; s/"/\\"/g')
  printf '{"level":%s,"time":%s,"service":"voicebot","msg":"entrypoint: %s"}\n' "$level" "$(date +%s%3N)" "$msg" >&2
}

hand_over() {
  variable=$1
  dir=$2
  if ! mkdir -p "$dir"; then
    say 50 "cannot create $variable=$dir"
    return
  fi
  # Only entries owned by someone else: a folder that is already right is not touched (no needless
  # chown of a large model folder on every start). -h: a symlink changes, never what it points to.
  count=$(find "$dir" ! -user "$BOT_UID" -print | wc -l)
  [ "$count" -eq 0 ] && return
  if find "$dir" ! -user "$BOT_UID" -exec chown -h "$BOT_UID:$BOT_GID" {} +; then
    say 30 "$variable=$dir: entries not the bot's: $count, now owned by $BOT_UID:$BOT_GID"
  else
    say 50 "$variable=$dir: could not hand $count entries to $BOT_UID:$BOT_GID (a read-only or root-squashed mount?); the bot will say what it cannot write"
  fi
}

if [ "$(id -u)" = 0 ]; then
  # The defaults are config.ts's; relative paths resolve from the working directory, as in Node.
  hand_over DATA_DIR "${DATA_DIR:-./data}"
  hand_over MODELS_DIR "${MODELS_DIR:-./models}"
  export HOME=/home/node
  exec setpriv --reuid="$BOT_UID" --regid="$BOT_GID" --clear-groups --inh-caps=-all -- "$@"
fi
exec "$@"
