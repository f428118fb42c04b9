#!/usr/bin/env bash
# Shared by the hook scripts (sourced, not a hook itself). Names fixed in docs/DESIGN.md.
APP_NAME=sample-app
APP_USER=sample-app
APP_ROOT=/opt/sample-app
RELEASES_DIR="${APP_ROOT}/releases"
CURRENT_LINK="${APP_ROOT}/current"
INCOMING_DIR="${APP_ROOT}/incoming"
UNIT_NAME=sample-app.service
# The directory is overridable for tests of the scripts (tests/unit/test_app_config_hook.py).
CONFIG_DIR="${SAMPLE_APP_CONFIG_DIR:-/etc/sample-app}"
ENV_FILE="${CONFIG_DIR}/env"
# The app's Parameter Store settings (scripts/app_config.sh), root-only; the unit loads it too.
CONFIG_FILE="${CONFIG_DIR}/config.env"
KEEP_RELEASES="${KEEP_RELEASES:-3}"
export APP_NAME APP_USER APP_ROOT RELEASES_DIR CURRENT_LINK INCOMING_DIR UNIT_NAME ENV_FILE \
  CONFIG_FILE KEEP_RELEASES

log() {
  printf '%s [%s] %s\n' "$(date -u +%H:%M:%S)" "${LIFECYCLE_EVENT:-hook}" "$*"
}

# The directory of the revision this script belongs to (the agent's deployment-archive).
bundle_dir() {
  cd "$(dirname "${BASH_SOURCE[1]}")/.." && pwd
}

# A NAME=value setting of ENV_FILE (the last one wins), or the default given.
env_value() {
  local value=""
  if [ -r "${ENV_FILE}" ]; then
    value="$(sed -n "s/^${1}=//p" "${ENV_FILE}" | tail -n 1)"
  fi
  printf '%s\n' "${value:-$2}"
}

app_port() {
  env_value PORT 80
}
