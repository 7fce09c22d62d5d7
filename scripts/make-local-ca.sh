#!/usr/bin/env bash
# Makes a local certificate authority and certificates for trying coord's TLS
# out on one machine (never for production: the CA key sits next to them).
#
#   scripts/make-local-ca.sh DIR
#
# Writes into DIR (created if missing; existing files are not overwritten):
#   ca.pem, ca-key.pem          the CA (valid 10 years)
#   server.pem, server-key.pem  a server certificate for 127.0.0.1, ::1 and
#                               localhost (valid 1 year)
#   client.pem, client-key.pem  a client certificate, subject CN=alice,O=coord
#                               (its x509 identity; valid 1 year)
# Needs the openssl command; installs Debian's openssl package if missing.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1

if ! command -v openssl >/dev/null 2>&1; then
  echo "make-local-ca: installing openssl" >&2
  sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq openssl >/dev/null
fi

mkdir -p "$dir"
for f in ca.pem server.pem client.pem; do
  if [ -e "$dir/$f" ]; then
    echo "make-local-ca: $dir/$f exists; remove it or pick another DIR" >&2
    exit 1
  fi
done
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# EC P-256 keys: small, and every TLS stack speaks them.
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key "$dir/ca-key.pem"
openssl req -x509 -new -key "$dir/ca-key.pem" -sha256 -days 3650 \
  -subj "/O=coord/CN=coord local CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$dir/ca.pem"

# leaf NAME SUBJECT EXTENSIONS...
leaf() {
  local name=$1 subject=$2
  shift 2
  key "$dir/$name-key.pem"
  openssl req -new -key "$dir/$name-key.pem" -subj "$subject" -out "$tmp/$name.csr"
  printf '%s\n' "$@" >"$tmp/$name.ext"
  openssl x509 -req -in "$tmp/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
    -CAcreateserial -CAserial "$tmp/ca.srl" -sha256 -days 365 \
    -extfile "$tmp/$name.ext" -out "$dir/$name.pem" 2>/dev/null
}

leaf server "/O=coord/CN=localhost" \
  "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth,clientAuth" \
  "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"
leaf client "/O=coord/CN=alice" \
  "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=clientAuth"

chmod 644 "$dir/ca.pem" "$dir/server.pem" "$dir/client.pem"
echo "make-local-ca: wrote ca.pem, server.pem, client.pem (and their -key.pem) to $dir"
