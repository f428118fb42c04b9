#!/usr/bin/env bash
# ValidateService: pass only when /health is 200 AND /version reports this bundle's commit, so a
# deploy with the old version still answering fails. Retries for VALIDATE_SECONDS, then fails.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

bundle="$(bundle_dir)"
expected="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["commit"])' \
  "${bundle}/version.json")"
port="$(app_port)"
base="http://127.0.0.1:${port}"
deadline=$((SECONDS + ${VALIDATE_SECONDS:-60}))
last="no answer yet"

log "waiting for ${base} to serve commit ${expected}"
while [ "${SECONDS}" -lt "${deadline}" ]; do
  if systemctl is-failed --quiet "${UNIT_NAME}"; then
    log "${UNIT_NAME} has failed; its last log lines:"
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
  sleep 1
done
log "gave up after ${VALIDATE_SECONDS:-60} s: ${last}"
systemctl status "${UNIT_NAME}" --no-pager || true
exit 1
