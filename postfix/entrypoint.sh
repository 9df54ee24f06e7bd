#!/bin/sh
# The Postfix container's entrypoint: render the configuration for this
# container with `listkeeper postfix render` (the same code and templates as
# every other Postfix we run), write the SES credentials into the SASL map with
# mode 0600, then run Postfix in the foreground.
#
#   postfix-entrypoint          render and run Postfix (the container's command)
#   postfix-entrypoint reload   render again and `postfix reload` the running
#                               Postfix: new SES credentials or settings, no
#                               restart, nothing in the queue touched
#
# Paths follow POSTFIX_ROOT (empty in the container, a temporary directory in
# the tests, which run this script on the host).
set -eu

die() {
    echo "postfix-entrypoint: $*" >&2
    exit 64
}

ROOT="${POSTFIX_ROOT:-}"
CONFIG_DIR="$ROOT/etc/postfix"
QUEUE_DIR="$ROOT/var/spool/postfix"
DATA_DIR="$ROOT/var/lib/postfix"
export LISTKEEPER_DATA_DIR="${LISTKEEPER_DATA_DIR:-$ROOT/var/lib/listkeeper}"

[ "$(id -u)" = 0 ] || die "Postfix's master must start as root (it drops privileges itself)"

# /healthz reads Postfix's state from the file the healthcheck leaves
# (postfix/healthcheck.sh). From here until this start's first healthcheck
# passes it says "starting", not what the previous container last saw: a
# restart takes the render below, seconds to tens of seconds on a busy host.
if [ "${1:-}" != reload ] && [ -n "${POSTFIX_QUEUE_STATUS_FILE:-}" ]; then
    mkdir -p "$(dirname "$POSTFIX_QUEUE_STATUS_FILE")"
    printf '{"ok": false, "error": "Postfix is starting", "checked": %s}\n' "$(date +%s)" \
        >"$POSTFIX_QUEUE_STATUS_FILE.starting"
    chmod 0644 "$POSTFIX_QUEUE_STATUS_FILE.starting"
    mv -f "$POSTFIX_QUEUE_STATUS_FILE.starting" "$POSTFIX_QUEUE_STATUS_FILE"
fi

# The list-address lookup reads the database as the read-only role that the
# app's `migrate` step grants (docker/entrypoint.sh, db-readonly-role); the
# settings take it from DATABASE_HOST/NAME/USER and DATABASE_PASSWORD_FILE.

# Without credentials SES refuses every message; fail now, loudly, rather
# than queue mail that can never leave.
for name in SES_USER_FILE SES_PASS_FILE; do
    eval "file=\${$name:-}"
    [ -n "$file" ] || die "$name is not set; mount the SES SMTP credentials as Docker secrets (docs/ses.md)"
    [ -s "$file" ] || die "$name=$file is missing or empty; write the SES SMTP credentials there (docs/ses.md)"
done

umask 022
mkdir -p "$CONFIG_DIR" "$QUEUE_DIR" "$DATA_DIR" "$LISTKEEPER_DATA_DIR"
chown postfix "$DATA_DIR"

# Writes main.cf, master.cf, the lookup tables and the SASL map (0600, never
# looser: render creates it with that mode).
listkeeper postfix render "$CONFIG_DIR" \
    --queue-dir "$QUEUE_DIR" --data-dir "$DATA_DIR" \
    --log-file "${POSTFIX_LOG_FILE:-/dev/stdout}" >/dev/null

sasl="$CONFIG_DIR/sasl_passwd"
[ -f "$sasl" ] || die "no SASL map was written to $sasl"
chown root:root "$sasl"
chmod 0600 "$sasl"
[ "$(stat -c %a "$sasl")" = 600 ] || die "$sasl is not mode 0600"

if [ "${1:-}" = reload ]; then
    exec postfix -c "$CONFIG_DIR" reload
fi

postfix -c "$CONFIG_DIR" check || die "postfix check failed; see the messages above"

# As PID 1 in the container, start-fg execs master; on a host (tests) master
# runs in the foreground under this process.
exec postfix -c "$CONFIG_DIR" start-fg
