#!/usr/bin/env bash
# ApplicationStart: (re)start the unit on the release `current` points to. systemd owns the
# process, so nothing here keeps the hook's stdout/stderr open.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

systemctl daemon-reload
systemctl enable --quiet "${UNIT_NAME}"
systemctl reset-failed "${UNIT_NAME}" 2>/dev/null || true
systemctl restart "${UNIT_NAME}"
log "started ${UNIT_NAME} from $(readlink -f "${CURRENT_LINK}")"
