package ipsec_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

var vipOnLo = regexp.MustCompile(`inet (198\.19\.77\.\d+)/32 scope global lo:ipsec`)

// TestClientVIPAfterRestart: the routerd binary is a mode config client (responder=no)
// of charon. The address it got lives on lo while the SA does: killed (-9) and started
// again while charon cannot be reached, routerd removes the address its previous run
// left; once charon answers again the address comes back with the new SA; a clean stop
// removes it.
func TestClientVIPAfterRestart(t *testing.T) {
	tp := newTopo(t, false)
	iketest.StartCharon(t, tp.nsS, `connections {
  rw {
    version = 2
    local_addrs = 198.18.50.2
    remote_addrs = 198.18.50.1
    proposals = aes128-sha256-ecp256
    pools = p
    dpd_delay = 0
    local { auth = psk
            id = s.example }
    remote { auth = psk
             id = r.example }
    children {
      net {
        local_ts = 198.19.102.0/24
        esp_proposals = aes128gcm16
      }
    }
  }
}
pools {
  p {
    addrs = 198.19.77.0/24
  }
}
secrets {
  ike-1 { id-a = s.example
          id-b = r.example
          secret = "a-long-test-psk" }
}
`)
	data := t.TempDir()
	r := startBin(t, tp.nsR, data)
	r.Script(`/ip address add address=198.18.50.1/24 interface=wan
/ip ipsec profile add name=rw enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256
/ip ipsec proposal add name=rw enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none
/ip ipsec mode-config add name=rw responder=no
/ip ipsec policy group add name=rw
/ip ipsec policy add group=rw proposal=rw template=yes
/ip ipsec peer add address=198.18.50.2/32 exchange-mode=ike2 name=office profile=rw
/ip ipsec identity add peer=office secret=a-long-test-psk my-id=fqdn:r.example remote-id=fqdn:s.example generate-policy=port-strict mode-config=rw policy-template-group=rw
`)
	loAddrs := func() string { return iketest.Sh(t, "ip", "-n", tp.nsR, "-4", "addr", "show", "dev", "lo") }
	vips := func() []string {
		var out []string
		for _, m := range vipOnLo.FindAllStringSubmatch(loAddrs(), -1) {
			out = append(out, m[1])
		}
		return out
	}
	if !iketest.WaitFor(30*time.Second, func() bool { return len(vips()) == 1 }) {
		t.Fatalf("no mode config address on lo:\n%s\n%s", loAddrs(), r.Must("/ip ipsec active-peers print detail"))
	}
	first := vips()[0]
	if err := iketest.In(tp.nsR, "ping", "-c", "1", "-W", "2", "-I", first, "198.19.102.1").Run(); err != nil {
		t.Fatalf("ping from %s: %v", first, err)
	}

	// Killed with the SA up, started again while charon is cut off.
	r.Kill()
	iketest.Sh(t, "ip", "-n", tp.nsS, "link", "set", "wan", "down")
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	if !iketest.WaitFor(15*time.Second, func() bool { return len(vips()) == 0 }) {
		t.Fatalf("the address of the previous run stays on lo:\n%s\n%s", loAddrs(), r.Must("/ip ipsec active-peers print detail"))
	}
	// Charon answers again: a new SA, its address back (once).
	iketest.Sh(t, "ip", "-n", tp.nsS, "link", "set", "wan", "up")
	if !iketest.WaitFor(90*time.Second, func() bool { return len(vips()) == 1 }) {
		t.Fatalf("no mode config address after the peer came back:\n%s\n%s", loAddrs(), r.Must("/ip ipsec active-peers print detail"))
	}
	second := vips()[0]
	if !iketest.WaitFor(10*time.Second, func() bool {
		return iketest.In(tp.nsR, "ping", "-c", "1", "-W", "1", "-I", second, "198.19.102.1").Run() == nil
	}) {
		t.Fatalf("ping from %s after the restart", second)
	}
	// A clean stop takes it away too.
	r.Stop()
	if v := vips(); len(v) != 0 {
		t.Fatalf("address %v left on lo after a clean stop:\n%s", v, loAddrs())
	}
}
