package ipsec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestIKEv2IgnoresNATTraversalNo: the reference lists nat-traversal among the parameters
// IKEv2 ignores, so a RouterOS profile with nat-traversal=no on an ike2 peer still
// detects NATs and floats. Against charon with kernel-libipsec (which takes ESP in UDP
// only) every CHILD SA failed while routerd honoured it (qa12 medium).
func TestIKEv2IgnoresNATTraversalNo(t *testing.T) {
	tp := newTopo(t, false)
	ch := iketest.StartCharon(t, tp.nsS, swanPSK{local: tp.sAddr, remote: tp.rAddr,
		children: []swanChild{{name: "net", localTS: "198.19.102.0/24", remoteTS: "198.19.101.0/24", esp: "aes128gcm16"}}}.String())
	r := startRouter(t, tp.nsR)
	r.run(t, `/ip ipsec profile add name=p enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256 nat-traversal=no
/ip ipsec proposal add name=p enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none
/ip ipsec peer add name=s address=`+tp.sAddr+`/32 exchange-mode=ike2 profile=p
/ip ipsec identity add peer=s secret=a-long-test-psk my-id=fqdn:r.example remote-id=fqdn:s.example
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
	if !iketest.WaitFor(25*time.Second, func() bool {
		return strings.Contains(r.run(t, "/ip ipsec policy print"), "established") && pingAcross(tp.nsR) == nil
	}) {
		t.Fatalf("no CHILD SA with nat-traversal=no on an ike2 peer:\n%s\n%s", r.run(t, "/ip ipsec active-peers print detail"), tail(ch.Log(), 4000))
	}
}
