#!/usr/bin/env bash
# A PostgreSQL failover under load (Patroni + etcd + HAProxy, Debian's
# packages from .ci/apt-packages): scripts/failover/run.sh against the
# debug binary the tests built ($INKAN_BIN_DIR). It fails if any call
# fails other than UNAVAILABLE/retry, if a token answered before the
# failover is lost, or if a spent token can be spent again.
#
# It may skip, saying so, in one case only: where the packages could not
# be installed (no apt-get, no network to a Debian mirror), since the
# cluster cannot exist there. PostgreSQL runs as the `postgres` user,
# which only root can switch to: not root is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=()
for tool in patroni patronictl etcd haproxy psql curl setpriv; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then missing+=("postgresql server"); fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "SKIPPED: the failover stage needs ${missing[*]}, which could not be installed here (.ci/apt-packages)"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "the failover stage runs PostgreSQL as the postgres user: run it as root"; exit 1; }
id postgres >/dev/null 2>&1 || { echo "no postgres user: the postgresql packages are incomplete"; exit 1; }
started=$SECONDS
scripts/failover/run.sh "${INKAN_BIN_DIR:?INKAN_BIN_DIR is the directory of the debug inkan binary}"
echo "failover stage took $((SECONDS - started)) s"
