#!/bin/sh
# The Postfix container's entrypoint: render the configuration for this
# container with `listkeeper postfix render` (the same code and templates as
# every other Postfix we run), write the SES credentials into the SASL map with
# mode 0600, then run Postfix in the foreground.
#
#   postfix-entrypoint          render and run Postfix (the container's command);
#                               SIGTERM drains the relay before stopping
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

# A graceful stop (docker stop, compose restart): stop handing copies to the
# relay, let the deliveries in progress finish, then stop. Killed mid-delivery,
# an smtp client that SES had already answered 250 would leave the copy queued,
# and Postfix would send it to SES again after the restart. Within Docker's
# stop timeout (10 s by default; compose gives postfix 30 s): a delivery to SES
# takes well under a second, POSTFIX_DRAIN_SECONDS bounds the wait.
relay_busy() {
    # An smtp process of the ses transport started by this Postfix's master.
    master_pid=$(sed 1q "$QUEUE_DIR/pid/master.pid" 2>/dev/null | tr -d ' ') || return 1
    [ -n "$master_pid" ] || return 1
    for stat in /proc/[0-9]*/stat; do
        read -r _ comm _ ppid _ <"$stat" 2>/dev/null || continue
        [ "$comm" = "(smtp)" ] && [ "$ppid" = "$master_pid" ] || continue
        tr '\0' ' ' <"${stat%/stat}/cmdline" 2>/dev/null | grep -q -- '-n ses ' && return 0
    done
    return 1
}

# The hand-off policy (lmtpd) refuses copies while Postfix stops, so that no
# smtpd is killed between a copy's queue file and its 250 (the worker would
# send that copy again); opened again at the next start.
# listkeeper/delivery/handoff_close.py.
handoff() {
    python3 -m listkeeper.delivery.handoff_close "$1" \
        || echo "postfix-entrypoint: could not $2 the hand-off (see above)" >&2
}

drain_and_stop() {
    trap '' TERM INT
    echo "postfix-entrypoint: stopping: no new copies, no new deliveries to the relay, waiting for those in progress" >&2
    handoff $(( ${POSTFIX_DRAIN_SECONDS:-8} + 60 )) close
    # A copy the policy let through just before goes into the queue in
    # milliseconds; its 250 with it.
    sleep 1
    # main.cf is rendered afresh at every start, so this lasts until the restart.
    postconf -c "$CONFIG_DIR" -e "defer_transports = ses"
    postfix -c "$CONFIG_DIR" reload 2>/dev/null || true
    ticks=$(( ${POSTFIX_DRAIN_SECONDS:-8} * 10 ))
    while [ "$ticks" -gt 0 ] && relay_busy; do
        sleep 0.1
        ticks=$((ticks - 1))
    done
    relay_busy && echo "postfix-entrypoint: deliveries still in progress; stopping anyway" >&2
    postfix -c "$CONFIG_DIR" stop 2>/dev/null || true
}

# Postfix runs under this shell, which turns SIGTERM (docker stop) into the
# graceful stop above. Not PID 1, start-fg runs `master -s` in the foreground.
trap drain_and_stop TERM INT
handoff 0 open
postfix -c "$CONFIG_DIR" start-fg &
master=$!
# `wait` returns early when a signal arrives; wait again until master is gone.
while kill -0 "$master" 2>/dev/null; do
    wait "$master" || true
done
