#!/bin/sh
# The Postfix container's healthcheck: master running and the queue readable.
# It also leaves the queue's size in POSTFIX_QUEUE_STATUS_FILE (a volume the web
# container mounts read-only), which /healthz and /metrics report.
set -eu
CONFIG_DIR="${POSTFIX_ROOT:-}/etc/postfix"

if ! postfix -c "$CONFIG_DIR" status >/dev/null 2>&1; then
    echo "postfix is not running" >&2
    exit 1
fi
set -- --command "postqueue -c $CONFIG_DIR -j"
if [ -n "${POSTFIX_QUEUE_STATUS_FILE:-}" ]; then
    set -- "$@" --write "$POSTFIX_QUEUE_STATUS_FILE"
fi
exec python3 -m listkeeper.lib.postqueue "$@"
