#!/usr/bin/env bash
# AfterInstall (second script): write this environment's Parameter Store configuration into the
# app's environment file. The path comes from the instance's own ${ENV_FILE} (APP_CONFIG_PATH,
# written by the user data from the stack's AppConfigPath; AWS_REGION beside it), never from the
# bundle: one bundle serves every environment. Each parameter directly under the path becomes
# NAME=value (the name relative to the path, upper-cased); SecureStrings are decrypted (the
# AWS-managed key aws/ssm lets every principal of the account decrypt; the instance role may read
# this path only). Names that are not environment variable names are skipped with a line in the
# log. The file is rewritten whole each time (idempotent: a removed parameter disappears),
# root-only (0600: systemd reads it as root before it drops to the service user), renamed into
# place atomically. No APP_CONFIG_PATH (an instance bootstrapped before AppConfigPath existed):
# an empty file, the deployment goes on. A read the role may not do fails the hook with the AWS
# CLI's message (AccessDeniedException ...), which make why shows as the log tail.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"

# Parameters (get-parameters-by-path's JSON on stdin) -> NAME="value" lines in argv[2].
read -r -d '' RENDER <<'PY' || true
import json, re, sys

path, target = sys.argv[1], sys.argv[2]
written = 0
with open(target, "w") as out:
    for p in sorted(json.load(sys.stdin).get("Parameters", []), key=lambda p: p["Name"]):
        name = p["Name"][len(path):].upper()
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
            print(f"skipping {p['Name']}: not an environment variable name", file=sys.stderr)
            continue
        value = p["Value"]
        if "\n" in value:
            print(f"skipping {p['Name']}: its value has several lines", file=sys.stderr)
            continue
        # systemd EnvironmentFile: inside double quotes a backslash escapes " \ ` and $
        for c in "\\\"`$":
            value = value.replace(c, "\\" + c)
        out.write(f'{name}="{value}"\n')
        written += 1
print(f"{written} setting(s) written", file=sys.stderr)
PY

config_path="$(env_value APP_CONFIG_PATH "")"
region="$(env_value AWS_REGION "")"
install -d -m 0755 -o root -g root "$(dirname "${CONFIG_FILE}")"
tmp="$(mktemp "${CONFIG_FILE}.XXXXXX")"
trap 'rm -f "${tmp}"' EXIT
chmod 0600 "${tmp}"

if [ -z "${config_path}" ]; then
  log "no APP_CONFIG_PATH in ${ENV_FILE}: the app gets no Parameter Store configuration"
else
  log "reading the parameters under ${config_path}"
  region_args=()
  if [ -n "${region}" ]; then
    region_args=(--region "${region}")
  fi
  # The AWS CLI (v2 on AL2023, as the user data's own `aws` calls assume) pages through every
  # result itself (a paginated operation: get-parameters-by-path's CLI reference). A failure
  # (the role may not read a parameter, the key may not decrypt) stops here with AWS's message.
  parameters="$(aws ssm get-parameters-by-path "${region_args[@]}" --path "${config_path}" \
    --with-decryption --no-recursive --output json)"
  printf '%s' "${parameters}" | python3 -c "${RENDER}" "${config_path}" "${tmp}"
fi

chown root:root "${tmp}"
mv -f "${tmp}" "${CONFIG_FILE}"
trap - EXIT
log "wrote ${CONFIG_FILE}"
