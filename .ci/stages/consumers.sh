#!/usr/bin/env bash
# Consumers: what a service that relies on inkan's tokens runs, against the
# real binary the tests built ($INKAN_BIN_DIR/inkan).
#
# 1. The compatibility matrix: for each algorithm inkan signs with, a dev
#    server with a key of that algorithm; a fresh token, a wrong-audience
#    one and one signed by a key the JWKS no longer holds; then every
#    library of the matrix (Node jose, Node jsonwebtoken + jwks-rsa, PyJWT's
#    PyJWKClient, joserfc, and inkan-client) verifies each, with `iss`,
#    `aud` and `typ` checked. It fails if the default algorithm is refused
#    by any library, or if any library accepts a token it must refuse.
# 2. The Python gRPC example (consumers/python/error_info.py): stubs from
#    the proto, a refusal's ErrorInfo reason and action.
# 3. The Rust examples (consumers/rust) built from a clean directory whose
#    only inkan dependency is the line the README gives, so the README
#    cannot drift from what compiles. The Rust row of the matrix is one of
#    these examples.
#
# Packages come from their registries, at the versions pinned in
# consumers/node/package-lock.json and consumers/python/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
inkan="${INKAN_BIN_DIR:?the directory of the debug inkan binary}/inkan"
[ -x "$inkan" ] || { echo "$inkan is missing: the tests stage builds it"; exit 1; }
for tool in node npm python3 grpcurl; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed: the consumers stage needs it"; exit 1; }
done

started=$SECONDS
step() { printf -- '-- %s (at %d s)\n' "$1" "$((SECONDS - started))"; }
work=$(mktemp -d)
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step "packages: npm ci, pip into .ci/consumers-venv"
npm ci --prefix consumers/node --no-audit --no-fund --loglevel=error >/dev/null
venv=.ci/consumers-venv reqs=consumers/python/requirements.txt
if ! cmp -s "$reqs" "$venv/requirements.txt"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$reqs"
  cp "$reqs" "$venv/requirements.txt"
fi
python="$repo/$venv/bin/python"

step "the Rust examples, built from the README's dependency line"
# The examples crate, copied out of the repository, with its inkan-client
# line replaced by the README's (its path made absolute) and the
# workspace's Cargo.lock, so versions match and the shared target dir
# reuses what it can. The copy keeps its place and its files' times, so a
# second run rebuilds nothing that did not change.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
crate="$CARGO_TARGET_DIR/consumers-clean"
rm -rf "$crate"
mkdir -p "$crate"
cp -rp consumers/rust/Cargo.toml consumers/rust/src consumers/rust/examples "$crate/"
readme_line=$(awk '/<!-- consumers.sh: dependency line -->/ {found=1; next}
  found && /^inkan-client = / {print; exit}' README.md)
[ -n "$readme_line" ] || { echo "README.md has no inkan-client line under its dependency-line marker"; exit 1; }
echo "README: $readme_line"
line=$(printf '%s\n' "$readme_line" | sed -E "s#path = \"[^\"]*\"#path = \"$repo/client\"#")
python3 - "$crate/Cargo.toml" "$line" <<'EOF'
import re, sys
path, line = sys.argv[1], sys.argv[2]
text = open(path).read()
text, n = re.subn(r"(?m)^inkan-client = .*$", lambda _: line, text)
assert n == 1, "the examples crate has no inkan-client line"
open(path, "w").write(text)
EOF
cp Cargo.lock "$crate/Cargo.lock"
# Built, not checked: `cargo check` would compile every dependency a
# second time in its own mode, where a build reuses the tests' artifacts.
# (The workspace's format stage does not reach this crate: checked here.)
rust_started=$SECONDS
(cd "$crate" && cargo fmt --check && cargo build --quiet --examples)
echo "built in $((SECONDS - rust_started)) s"
examples="$CARGO_TARGET_DIR/debug/examples"

step "dev servers: one key per algorithm, and a retired key"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Serves dev mode with `keys`; sets addr (gRPC) and http (its port).
serve() {
  local name=$1 keys=$2 grpc dir
  grpc=$(free_port); http=$(free_port); dir="$work/$name"
  mkdir -p "$dir"
  (cd "$dir" && exec "$inkan" serve --dev --keys "$keys" --grpc-addr "127.0.0.1:$grpc" \
    --http-addr "127.0.0.1:$http" --metrics-addr 127.0.0.1:0 >"$dir/server.log" 2>&1) &
  servers+=("$!")
  for _ in $(seq 1 100); do
    grpcurl -plaintext "127.0.0.1:$grpc" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING \
      && { addr="127.0.0.1:$grpc"; return 0; }
    sleep 0.2
  done
  echo "the $name server did not start:" >&2; tail -n 20 "$dir/server.log" >&2; return 1
}
issue() {
  grpcurl -plaintext -d "{\"subject\":\"user-42\",\"audience\":[\"$2\"],\"scopes\":[\"orders:read\"],\"client_id\":\"web\",\"device\":\"consumers\"}" \
    "$1" inkan.v1.TokenService/Issue | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])'
}
default_alg=$(cd "$work" && "$inkan" keys generate | python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"][0]["alg"])')
echo "default algorithm of \`inkan keys generate\`: $default_alg"
echo "[" >"$work/cases.json"
sep=""
dev_grpc=""
for alg in ES256 EdDSA RS256; do
  "$inkan" keys generate --alg "$alg" --keys "$work/$alg-retired.json" >/dev/null
  "$inkan" keys generate --alg "$alg" --keys "$work/$alg.json" >/dev/null
  # A token of a key the JWKS no longer holds: its server is stopped once
  # the token is issued, and the one verifiers follow never had the key.
  serve "$alg-retired" "$work/$alg-retired.json"
  retired=$(issue "$addr" orders)
  kill "${servers[-1]}"
  serve "$alg" "$work/$alg.json"
  [ "$alg" = "$default_alg" ] && dev_grpc=$addr
  fresh=$(issue "$addr" orders)
  other=$(issue "$addr" billing)
  issuer=$(python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))["issuer"])' \
    "http://127.0.0.1:$http/.well-known/openid-configuration")
  printf '%s{"alg":"%s","jwks_url":"http://127.0.0.1:%s/.well-known/jwks.json","issuer":"%s","audience":"orders",
   "tokens":{"fresh":"%s","wrong_audience":"%s","retired_key":"%s"}}\n' \
    "$sep" "$alg" "$http" "$issuer" "$fresh" "$other" "$retired" >>"$work/cases.json"
  sep=","
done
echo "]" >>"$work/cases.json"

step "the matrix"
rows="$work/rows.tsv"
node consumers/node/matrix.mjs "$work/cases.json" >>"$rows"
"$python" consumers/python/matrix.py "$work/cases.json" >>"$rows"
"$examples/matrix" "$work/cases.json" >>"$rows"
ok=0
python3 - "$rows" "$default_alg" <<'EOF' || ok=1
import collections, sys
rows = [line.rstrip("\n").split("\t", 3) for line in open(sys.argv[1]) if line.strip()]
default = sys.argv[2]
algs = ["ES256", "EdDSA", "RS256"]
cases = ["fresh", "wrong_audience", "retired_key"]
table = collections.OrderedDict()
for library, alg, case, outcome in rows:
    table.setdefault(library, {})[(alg, case)] = outcome
mark = lambda o: "accepts" if o == "accepted" else "refuses" if o else "?"
width = max(len(l) for l in table) + 2
print("fresh / wrong aud / retired key, per algorithm (a verifier must accept, refuse, refuse)")
print("library".ljust(width) + "".join(a.ljust(30) for a in algs))
failures = []
for library, got in table.items():
    cells = []
    for alg in algs:
        cells.append(" / ".join(mark(got.get((alg, c))) for c in cases).ljust(30))
        for case in cases:
            outcome = got.get((alg, case))
            if outcome is None:
                failures.append(f"{library} {alg} {case}: no row")
            elif case != "fresh" and outcome == "accepted":
                failures.append(f"{library} {alg} {case}: ACCEPTED")
            elif case == "fresh" and alg == default and outcome != "accepted":
                failures.append(f"{library} refuses the default {alg}: {outcome}")
    print(library.ljust(width) + "".join(cells))
print("\nwhy each fresh token was refused:")
for library, got in table.items():
    for alg in algs:
        outcome = got.get((alg, "fresh"), "")
        if outcome.startswith("refused"):
            print(f"  {library}, {alg}: {outcome[len('refused: '):]}")
for failure in failures:
    print("FAIL:", failure)
sys.exit(1 if failures else 0)
EOF

step "Python gRPC: a refusal's ErrorInfo"
if out=$("$python" consumers/python/error_info.py "$dev_grpc" proto 2>&1); then
  echo "$out"
  grep -q 'reason=SIGNATURE_INVALID action=reauthenticate' <<<"$out" \
    || { echo "error_info.py did not print the refusal's reason and action"; ok=1; }
else
  echo "$out"; echo "error_info.py failed"; ok=1
fi

step "done"
exit "$ok"
