#!/usr/bin/env bash
# AfterInstall: turn the staged bundle into releases/<deployment-id> with its own virtual
# environment built from the bundled wheels (no package index), install the unit, switch the
# `current` link atomically and prune old releases.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

: "${DEPLOYMENT_ID:?DEPLOYMENT_ID is set by the CodeDeploy agent}"
release="${RELEASES_DIR}/${DEPLOYMENT_ID}"
python_bin="$(command -v python3.11 || command -v python3)"

log "building ${release} with ${python_bin}"
rm -rf "${release}"
cp -a "${INCOMING_DIR}" "${release}"
pip_wheel="$(find "${release}/wheels" -maxdepth 1 -name 'pip-*.whl' | sort | tail -n 1)"
if [ -n "${pip_wheel}" ]; then
  # pip runs straight from its wheel: the venv needs no pip of its own (ensurepip costs ~3 s).
  "${python_bin}" -m venv --without-pip "${release}/venv"
  pip_cmd=("${release}/venv/bin/python" "${pip_wheel}/pip")
else
  "${python_bin}" -m venv "${release}/venv"
  pip_cmd=("${release}/venv/bin/python" -m pip)
fi
"${pip_cmd[@]}" install --quiet --disable-pip-version-check --no-index \
  --find-links "${release}/wheels" -r "${release}/app/requirements.txt"
# The code is root-owned and read-only for the service user.
chown -R root:root "${release}"
chmod -R go-w "${release}"
# Pruning goes by this time, not by the copied files' (fixed, reproducible) timestamps.
touch "${release}"

install -m 0644 "${release}/app/deploy/sample-app.service" "/etc/systemd/system/${UNIT_NAME}"
systemctl daemon-reload

# rename(2) over the old link: there is no moment without a `current`.
ln -sfn "${release}" "${CURRENT_LINK}.tmp"
mv -T "${CURRENT_LINK}.tmp" "${CURRENT_LINK}"
log "current -> $(readlink "${CURRENT_LINK}")"

# Keep the newest KEEP_RELEASES releases, and never the one `current` points to.
live="$(readlink -f "${CURRENT_LINK}")"
find "${RELEASES_DIR}" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn |
  tail -n "+$((KEEP_RELEASES + 1))" | cut -d' ' -f2- |
  while read -r old; do
    if [ "${old}" != "${live}" ]; then
      log "removing old release ${old}"
      rm -rf "${old}"
    fi
  done
