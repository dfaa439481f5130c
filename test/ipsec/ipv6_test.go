package ipsec_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestIPv6WithCharon: IKEv2 over IPv6 between routerd and charon (kernel-libipsec), both
// ways, with IPv6 networks behind each side: the SA comes up on the IPv6 addresses and
// pings cross the userspace ESP path.
func TestIPv6WithCharon(t *testing.T) {
	for _, side := range []string{"initiator", "responder"} {
		t.Run("routerd-"+side, func(t *testing.T) {
			iketest.NeedRoot(t, "ip", "nsenter", "ping")
			nsR, nsS := iketest.NS(t, "t6r"), iketest.NS(t, "t6s")
			iketest.Veth(t, nsR, "wan", "", nsS, "wan", "")
			for _, c := range [][]string{
				{nsR, "2001:db8:50::1/64", "wan"}, {nsS, "2001:db8:50::2/64", "wan"},
				{nsR, "2001:db8:101::1/64", "lo"}, {nsS, "2001:db8:102::1/64", "lo"},
			} {
				iketest.Sh(t, "ip", "-n", c[0], "addr", "add", c[1], "dev", c[2], "nodad")
			}
			c := iketest.StartCharon(t, nsS, swanPSK{local: "2001:db8:50::2", remote: "2001:db8:50::1", children: []swanChild{
				{name: "net", localTS: "2001:db8:102::/64", remoteTS: "2001:db8:101::/64", esp: "aes128gcm16"}}}.String())
			r := startRouter(t, nsR)
			r.run(t, fmt.Sprintf(`/ip ipsec profile add name=p enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256
/ip ipsec proposal add name=p enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none
/ip ipsec peer add name=s address=2001:db8:50::2/128 exchange-mode=ike2 profile=p passive=%s
/ip ipsec identity add peer=s secret=a-long-test-psk my-id=fqdn:r.example remote-id=fqdn:s.example
/ip ipsec policy add src-address=2001:db8:101::/64 dst-address=2001:db8:102::/64 tunnel=yes proposal=p peer=s
`, map[string]string{"initiator": "no", "responder": "yes"}[side]))
			if side == "responder" {
				if out, err := c.Swanctl("--initiate", "--child", "net", "--timeout", "10"); err != nil {
					t.Fatalf("swanctl --initiate: %v\n%s", err, out)
				}
			}
			if !iketest.WaitFor(20*time.Second, func() bool {
				return strings.Contains(r.run(t, "/ip ipsec policy print"), "established")
			}) {
				t.Fatalf("no phase 2:\n%s\n%s", r.run(t, "/ip ipsec active-peers print detail"), c.Log())
			}
			if peers := r.run(t, "/ip ipsec active-peers print detail"); !strings.Contains(peers, "remote-address=2001:db8:50::2") {
				t.Errorf("not over IPv6:\n%s", peers)
			}
			if !iketest.WaitFor(10*time.Second, func() bool {
				return iketest.In(nsR, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "-I", "2001:db8:101::1", "2001:db8:102::1").Run() == nil
			}) {
				out, _ := c.Swanctl("--list-sas")
				t.Fatalf("ping6 across: %s\n%s\n%s", r.run(t, "/ip ipsec installed-sa print detail"),
					r.run(t, "/ip ipsec statistics print"), out)
			}
		})
	}
}
