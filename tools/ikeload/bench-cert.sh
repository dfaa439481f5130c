#!/usr/bin/env bash
# Digital-signature IKE setup benchmark: the same initiator (ikeload -cert) against
# routerd's responder (ikeload -respond -cert) and against charon, with RSA-2048 and
# ECDSA P-256 certificates made by openssl (one CA, a server certificate with
# SAN IP:198.18.60.2, a client certificate). Prints setups/s and the responder's CPU
# per IKE_SA+CHILD_SA. Needs root, strongSwan (charon-systemd, swanctl), openssl.
#   tools/ikeload/bench-cert.sh [N] [CONCURRENCY]
set -euo pipefail
N=${1:-300} C=${2:-16}
cd "$(dirname "$0")/../.."
go build -o /tmp/ikeload.$$ ./tools/ikeload
I=ikci$$ S=ikcs$$ DIR=$(mktemp -d)
cleanup() { kill "$(cat "$DIR/pid" 2>/dev/null)" 2>/dev/null || true; sleep 0.3; ip netns del $I 2>/dev/null || true; ip netns del $S 2>/dev/null || true; rm -rf "$DIR" /tmp/ikeload.$$; }
trap cleanup EXIT
ip netns add $I; ip netns add $S
ip link add va netns $I type veth peer name vb netns $S
ip -n $I addr add 198.18.60.1/24 dev va; ip -n $S addr add 198.18.60.2/24 dev vb
for x in "$I va" "$S vb" "$I lo" "$S lo"; do set -- $x; ip -n $1 link set $2 up; done
ip -n $S addr add 198.19.102.1/24 dev lo
cpu() { awk '{print $14+$15}' /proc/"$1"/stat; }
tck=$(getconf CLK_TCK)
ike=aes128-sha256-ecp256
pki() { # kind: rsa | ecdsa
  local d="$DIR/$1" alg
  mkdir -p "$d"
  if [ "$1" = rsa ]; then alg=(-newkey rsa:2048); else alg=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); fi
  openssl req -x509 "${alg[@]}" -nodes -keyout "$d/ca.key" -out "$d/ca.pem" -subj /CN=bench-ca -days 2 \
    -addext basicConstraints=critical,CA:true -addext keyUsage=keyCertSign,cRLSign 2>/dev/null
  for who in server client; do
    local san="IP:198.18.60.2" eku=serverAuth
    [ $who = client ] && san="DNS:client.example" eku=clientAuth
    openssl req "${alg[@]}" -nodes -keyout "$d/$who.key" -out "$d/$who.csr" -subj "/CN=$who" 2>/dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$san" "$eku" >"$d/$who.ext"
    openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
      -extfile "$d/$who.ext" -out "$d/$who.pem" 2>/dev/null
  done
}
measure() { # name pid kind
  local before after out d="$DIR/$3"
  before=$(cpu "$2")
  out=$(nsenter --net=/run/netns/$I /tmp/ikeload.$$ -remote 198.18.60.2 -ike $ike -esp aes128gcm16 -n "$N" -c "$C" \
    -cert "$d/client.pem" -key "$d/client.key" -ca "$d/ca.pem")
  after=$(cpu "$2")
  local setups; setups=$(sed -n 's/.*setups=\([0-9]*\).*/\1/p' <<<"$out")
  awk -v n="$1" -v k="$3" -v o="$out" -v d="$((after-before))" -v t="$tck" -v s="$setups" \
    'BEGIN { printf "%-8s %-6s %s  responder-cpu=%.2fs  per-SA=%.2fms\n", n, k, o, d/t, (s>0 ? d/t/s*1000 : 0) }'
}
for kind in rsa ecdsa; do
  pki $kind
  d="$DIR/$kind"
  echo "== $kind certificates, $ike, $N setups, $C concurrent"
  nsenter --net=/run/netns/$S /tmp/ikeload.$$ -respond -ike $ike -esp aes128gcm16 \
    -cert "$d/server.pem" -key "$d/server.key" -ca "$d/ca.pem" \
    -local-ts 198.19.102.0/24 -remote-ts 198.19.101.0/24 >"$DIR/r.out" 2>&1 & echo $! >"$DIR/pid"
  sleep 0.5
  measure routerd "$(cat "$DIR/pid")" $kind
  kill "$(cat "$DIR/pid")"; wait "$(cat "$DIR/pid")" 2>/dev/null || true; sleep 0.3
  sw="$DIR/swan-$kind"
  mkdir -p "$sw"; for x in x509 x509ca x509aa x509ocsp x509crl x509ac pubkey private rsa ecdsa pkcs8 pkcs12; do mkdir -p "$sw/$x"; done
  cp "$d/ca.pem" "$sw/x509ca/"; cp "$d/server.pem" "$sw/x509/"; cp "$d/server.key" "$sw/private/"
  cat >"$sw/strongswan.conf" <<SC
charon-systemd {
  port = 500
  port_nat_t = 4500
  load = random nonce openssl gmp aes sha1 sha2 md5 hmac gcm x509 pubkey pkcs1 pkcs8 pem kdf xcbc cmac kernel-libipsec kernel-netlink socket-default vici updown
  filelog { main { path = $sw/charon.log
                   default = 0 } }
  plugins { vici { socket = unix://$sw/charon.vici } }
}
SC
  cat >"$sw/swanctl.conf" <<SW
connections { r { version = 2
  local_addrs = 198.18.60.2
  remote_addrs = %any
  proposals = $ike
  dpd_delay = 0
  local { auth = pubkey
          certs = server.pem
          id = 198.18.60.2 }
  remote { auth = pubkey }
  children { net { local_ts = 198.19.102.0/24
                   remote_ts = 198.19.101.0/24
                   esp_proposals = aes128gcm16 } } } }
SW
  nsenter --net=/run/netns/$S env STRONGSWAN_CONF="$sw/strongswan.conf" /usr/sbin/charon-systemd >"$sw/stdout" 2>&1 & echo $! >"$DIR/pid"
  for _ in $(seq 50); do [ -S "$sw/charon.vici" ] && break; sleep 0.1; done
  swanctl --load-all --uri "unix://$sw/charon.vici" --file "$sw/swanctl.conf" >/dev/null 2>&1 || true
  measure charon "$(cat "$DIR/pid")" $kind
  kill "$(cat "$DIR/pid")"; wait "$(cat "$DIR/pid")" 2>/dev/null || true; sleep 0.5
done
