package ipsec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

const rwCharonPlain = `connections {
  rw {
    version = 2
    local_addrs = 198.18.50.2
    remote_addrs = 198.18.50.1
    proposals = aes128-sha256-ecp256
    vips = 0.0.0.0
    local { auth = psk
            id = s.example }
    remote { auth = psk
             id = r.example }
    children {
      net {
        remote_ts = 198.19.101.0/24
        esp_proposals = aes128gcm16
      }
    }
  }
}
secrets {
  ike-1 { id-a = s.example
          id-b = r.example
          secret = "a-long-test-psk" }
}
`

// TestPoolFollowedByModeConfig runs the routerd binary as a mode config responder for
// charon: a pool's new ranges are used at once (no restart), /ip pool used lists the
// address leased to the peer (pool, address, owner, info), a pool a mode config names
// cannot be removed, and the lease goes with the peer.
func TestPoolFollowedByModeConfig(t *testing.T) {
	tp := newTopo(t, false)
	r := startBin(t, tp.nsR, "")
	r.Script(`/ip address add address=198.18.50.1/24 interface=wan
/ip pool add name=rw-pool ranges=198.19.77.10-198.19.77.20
/ip ipsec profile add name=rw dh-group=ecp256 enc-algorithm=aes-128 hash-algorithm=sha256
/ip ipsec proposal add name=rw enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none
/ip ipsec mode-config add name=rw address-pool=rw-pool address-prefix-length=32 split-include=198.19.101.0/24
/ip ipsec policy group add name=rw
/ip ipsec policy add group=rw template=yes src-address=198.19.101.0/24 dst-address=198.19.0.0/16 proposal=rw
/ip ipsec peer add name=rw exchange-mode=ike2 passive=yes profile=rw
/ip ipsec identity add peer=rw secret=a-long-test-psk generate-policy=port-strict mode-config=rw policy-template-group=rw my-id=fqdn:r.example remote-id=fqdn:s.example
`)
	// The ranges change while routerd runs: the next peer gets an address of the new ones.
	r.Script("/ip pool set rw-pool ranges=198.19.78.5-198.19.78.9\n")
	// The passive peer loaded before charon initiates: its IKE_SA_INIT, sent before the
	// ipsec engine's pass, was answered NO_PROPOSAL_CHOSEN.
	r.Settle()
	c := iketest.StartCharon(t, tp.nsS, rwCharonPlain)
	if out, err := c.Swanctl("--initiate", "--child", "net", "--timeout", "10"); err != nil {
		t.Fatalf("initiate: %v\n%s", err, out)
	}
	if sas, _ := c.Swanctl("--list-sas"); !strings.Contains(sas, "198.19.78.5") {
		t.Fatalf("charon did not get 198.19.78.5 from the new ranges:\n%s\n%s", sas, r.Must("/ip ipsec active-peers print detail"))
	}
	if err := iketest.In(tp.nsS, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-I", "198.19.78.5", "198.19.101.1").Run(); err != nil {
		t.Fatalf("ping from the leased address: %v", err)
	}
	used := r.Must("/ip pool used print terse")
	if !strings.Contains(used, "pool=rw-pool") || !strings.Contains(used, "address=198.19.78.5") ||
		!strings.Contains(used, "owner=ipsec") || !strings.Contains(used, "info=fqdn:s.example") {
		t.Fatalf("/ip pool used:\n%s", used)
	}
	// A pool in use cannot be removed (RouterOS refuses to remove an item another
	// names: mode-config address-pool=).
	if out, err := r.Ctl(nil, "/ip pool remove rw-pool"); err == nil || !strings.Contains(r.Must("/ip pool print terse"), "name=rw-pool") {
		t.Errorf("a pool in use was removed: %v %s\n%s", err, out, r.Must("/ip pool print terse"))
	}
	// The peer goes: so does its lease.
	if out, err := c.Swanctl("--terminate", "--ike", "rw", "--timeout", "10"); err != nil {
		t.Fatalf("terminate: %v\n%s", err, out)
	}
	if !iketest.WaitFor(10*time.Second, func() bool { return !strings.Contains(r.Must("/ip pool used print terse"), "198.19.78.5") }) {
		t.Fatalf("lease kept after the peer left:\n%s", r.Must("/ip pool used print terse"))
	}
}
