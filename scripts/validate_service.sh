#!/usr/bin/env bash
# ValidateService: pass only when /health is 200 AND /version reports this bundle's commit, so a
# deploy with the old version still answering fails. Retries for VALIDATE_SECONDS (from the
# environment file: the stack's ValidateServiceSeconds; 60 when unset), then fails; fails at
# once when this release's process has crashed (see crashed below). appspec.yml's timeout for
# this hook (120 s) stays above it: the root template's MaxValue is 110.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

bundle="$(bundle_dir)"
expected="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["commit"])' \
  "${bundle}/version.json")"
port="$(app_port)"
base="http://127.0.0.1:${port}"
budget="$(env_value VALIDATE_SECONDS 60)"
deadline=$((SECONDS + budget))
last="no answer yet"

# The unit's process exited with a failure since ApplicationStart started it: systemd waits to
# restart it (SubState auto-restart) or has (NRestarts). A release that crashes on start would
# otherwise hold this hook until systemd gives up (StartLimitBurst starts, each boot plus
# RestartSec: ~13 s). ApplicationStart's reset-failed and restart zero NRestarts (systemd
# service.c: reset-failed resets the counter; a start after a stop without restart flushes it).
crashed() {
  [ "$(systemctl show -p SubState --value "${UNIT_NAME}")" = "auto-restart" ] ||
    [ "$(systemctl show -p NRestarts --value "${UNIT_NAME}")" -gt 0 ]
}

log "waiting for ${base} to serve commit ${expected}"
while [ "${SECONDS}" -lt "${deadline}" ]; do
  if systemctl is-failed --quiet "${UNIT_NAME}" || crashed; then
    log "${UNIT_NAME} has failed (or crashed and restarted); its last log lines:"
    journalctl -u "${UNIT_NAME}" -n 20 --no-pager || true
    exit 1
  fi
  health="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${base}/health" || true)"
  if [ "${health}" = "200" ]; then
    served="$(curl -fsS --max-time 2 "${base}/version" |
      python3 -c 'import json, sys; print(json.load(sys.stdin).get("commit", ""))' || true)"
    if [ "${served}" = "${expected}" ]; then
      log "healthy and serving ${served}"
      exit 0
    fi
    last="healthy but serving commit '${served}'"
  else
    last="/health answered '${health}'"
  fi
  # gunicorn answers within about a second of ApplicationStart: poll finer than that
  sleep 0.25
done
log "gave up after ${budget} s (VALIDATE_SECONDS in ${ENV_FILE}): ${last}"
systemctl status "${UNIT_NAME}" --no-pager || true
exit 1
