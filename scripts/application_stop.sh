#!/usr/bin/env bash
# ApplicationStop: stop the running service. Must succeed when nothing runs (first install, a
# unit killed by hand or never installed): the agent runs the previous revision's copy of this
# script, so a failure here would block every later deployment.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

if ! systemctl cat "${UNIT_NAME}" >/dev/null 2>&1; then
  log "no ${UNIT_NAME} installed: nothing to stop"
  exit 0
fi
log "stopping ${UNIT_NAME} (state: $(systemctl is-active "${UNIT_NAME}" || true))"
systemctl stop "${UNIT_NAME}" || log "stop returned $?; continuing"
# A unit that crashed or was killed stays 'failed' and would refuse to start on its limit.
systemctl reset-failed "${UNIT_NAME}" 2>/dev/null || true
log "stopped"
