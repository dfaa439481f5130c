#!/usr/bin/env bash
# IKE setup benchmark: the same initiator (ikeload) against routerd's responder (ikeload
# -respond: the ike daemon with the userspace ESP path) and against charon
# (kernel-libipsec), in two namespaces joined by veth. Prints setups/s and the
# responder's CPU per IKE_SA+CHILD_SA. Needs root, strongSwan (charon-systemd, swanctl).
#   tools/ikeload/bench.sh [N] [CONCURRENCY]
# MODE=main (or aggressive) measures IKEv1: Phase 1 with address IDs, then Quick Mode.
set -euo pipefail
N=${1:-300} C=${2:-16} MODE=${MODE:-ike2}
if [ "$MODE" = ike2 ]; then
  VERSION=2 MYID=fqdn:r.example PEERID=fqdn:s.example SID=s.example RID=r.example AGGR=no
else
  VERSION=1 MYID=address:198.18.60.1 PEERID=address:198.18.60.2 SID=198.18.60.2 RID=198.18.60.1 AGGR=no
  [ "$MODE" = aggressive ] && AGGR=yes
fi
cd "$(dirname "$0")/../.."
go build -o /tmp/ikeload.$$ ./tools/ikeload
I=ikli$$ S=ikls$$ DIR=$(mktemp -d)
cleanup() { kill "$(cat "$DIR/pid" 2>/dev/null)" 2>/dev/null || true; sleep 0.3; ip netns del $I 2>/dev/null || true; ip netns del $S 2>/dev/null || true; rm -rf "$DIR" /tmp/ikeload.$$; }
trap cleanup EXIT
ip netns add $I; ip netns add $S
ip link add va netns $I type veth peer name vb netns $S
ip -n $I addr add 198.18.60.1/24 dev va; ip -n $S addr add 198.18.60.2/24 dev vb
for x in "$I va" "$S vb" "$I lo" "$S lo"; do set -- $x; ip -n $1 link set $2 up; done
ip -n $S addr add 198.19.102.1/24 dev lo
cpu() { awk '{print $14+$15}' /proc/"$1"/stat; }
tck=$(getconf CLK_TCK)
measure() { # name pid group
  local before after out
  before=$(cpu "$2")
  out=$(nsenter --net=/run/netns/$I /tmp/ikeload.$$ -exchange "$MODE" -id "$MYID" -peer-id "$PEERID" -remote 198.18.60.2 -ike "$3" -esp aes128gcm16 -n "$N" -c "$C")
  after=$(cpu "$2")
  local setups; setups=$(sed -n 's/.*setups=\([0-9]*\).*/\1/p' <<<"$out")
  awk -v n="$1" -v o="$out" -v d="$((after-before))" -v t="$tck" -v s="$setups" \
    'BEGIN { printf "%-8s %-22s %s  responder-cpu=%.2fs  per-SA=%.2fms\n", n, "", o, d/t, (s>0 ? d/t/s*1000 : 0) }'
}
for group in ecp256 modp2048; do
  ike="aes128-sha256-$group"
  echo "== $ike, $N setups, $C concurrent"
  nsenter --net=/run/netns/$S /tmp/ikeload.$$ -respond -exchange "$MODE" -ike "$ike" -esp aes128gcm16 -id "$PEERID" -peer-id "$MYID" \
    -local-ts 198.19.102.0/24 -remote-ts 198.19.101.0/24 >"$DIR/r.out" 2>&1 & echo $! >"$DIR/pid"
  sleep 0.5
  measure routerd "$(cat "$DIR/pid")" "$ike"
  kill "$(cat "$DIR/pid")"; wait "$(cat "$DIR/pid")" 2>/dev/null || true; sleep 0.3
  mkdir -p "$DIR/swan"; for d in x509 x509ca x509aa x509ocsp x509crl x509ac pubkey private rsa ecdsa pkcs8 pkcs12; do mkdir -p "$DIR/swan/$d"; done
  cat >"$DIR/swan/strongswan.conf" <<SC
charon-systemd {
  port = 500
  port_nat_t = 4500
  i_dont_care_about_security_and_use_aggressive_mode_psk = yes
  load = random nonce openssl gmp aes sha1 sha2 md5 hmac gcm x509 pubkey pkcs1 pem kdf xcbc cmac kernel-libipsec kernel-netlink socket-default vici updown
  filelog { main { path = $DIR/swan/charon.log
                   default = ${SWANLOG:-0} } }
  plugins { vici { socket = unix://$DIR/swan/charon.vici } }
}
SC
  cat >"$DIR/swan/swanctl.conf" <<SW
connections { r { version = $VERSION
  aggressive = $AGGR
  local_addrs = 198.18.60.2
  remote_addrs = %any
  proposals = $ike
  dpd_delay = 0
  local { auth = psk
          id = $SID }
  remote { auth = psk
           id = $RID }
  children { net { local_ts = 198.19.102.0/24
                   remote_ts = 198.19.101.0/24
                   esp_proposals = aes128gcm16 } } } }
secrets { ike-1 { id-a = $SID
                  id-b = $RID
                  secret = "a-long-test-psk" } }
SW
  nsenter --net=/run/netns/$S env STRONGSWAN_CONF="$DIR/swan/strongswan.conf" /usr/sbin/charon-systemd >"$DIR/swan/stdout" 2>&1 & echo $! >"$DIR/pid"
  for _ in $(seq 50); do [ -S "$DIR/swan/charon.vici" ] && break; sleep 0.1; done
  swanctl --load-all --uri "unix://$DIR/swan/charon.vici" --file "$DIR/swan/swanctl.conf" >/dev/null 2>&1 || true
  measure charon "$(cat "$DIR/pid")" "$ike"
  kill "$(cat "$DIR/pid")"; wait "$(cat "$DIR/pid")" 2>/dev/null || true; sleep 0.5
  [ -n "${KEEPLOG:-}" ] && cp "$DIR/swan/charon.log" "$KEEPLOG" || true
done
