#!/bin/sh
# The Postfix container's healthcheck: master running and the queue readable.
# It also leaves the queue's size in POSTFIX_QUEUE_STATUS_FILE (a volume the web
# container mounts read-only), which /healthz and /metrics report.
set -eu
CONFIG_DIR="${POSTFIX_ROOT:-}/etc/postfix"

if ! postfix -c "$CONFIG_DIR" status >/dev/null 2>&1; then
    echo "postfix is not running" >&2
    # Said in the status file too, so /healthz agrees with this check.
    if [ -n "${POSTFIX_QUEUE_STATUS_FILE:-}" ]; then
        printf '{"ok": false, "error": "Postfix is not running", "checked": %s}\n' "$(date +%s)" \
            >"$POSTFIX_QUEUE_STATUS_FILE.down"
        chmod 0644 "$POSTFIX_QUEUE_STATUS_FILE.down"
        mv -f "$POSTFIX_QUEUE_STATUS_FILE.down" "$POSTFIX_QUEUE_STATUS_FILE"
    fi
    exit 1
fi
set -- --command "postqueue -c $CONFIG_DIR -j"
if [ -n "${POSTFIX_QUEUE_STATUS_FILE:-}" ]; then
    set -- "$@" --write "$POSTFIX_QUEUE_STATUS_FILE"
fi
exec python3 -m listkeeper.lib.postqueue "$@"
