#!/usr/bin/env bash
# BeforeInstall: the service user and directories exist, and the staging directory the agent
# copies the bundle into is empty (files left by an older bundle must not leak into this one).
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

if ! id -u "${APP_USER}" >/dev/null 2>&1; then
  log "creating system user ${APP_USER}"
  useradd --system --home-dir "${APP_ROOT}" --no-create-home --shell /usr/sbin/nologin \
    --user-group "${APP_USER}"
fi
install -d -m 0755 -o root -g root "${APP_ROOT}" "${RELEASES_DIR}"
rm -rf "${INCOMING_DIR}"
install -d -m 0755 -o root -g root "${INCOMING_DIR}"
install -d -m 0755 -o root -g root "$(dirname "${ENV_FILE}")"
if [ ! -f "${ENV_FILE}" ]; then
  log "no ${ENV_FILE}: defaulting to PORT=80"
  printf 'PORT=80\n' >"${ENV_FILE}"
fi
log "ready for install"
