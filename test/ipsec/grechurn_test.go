package ipsec_test

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestGREIPsecSecretChurn: a GRE tunnel with an ipsec-secret never leaves in the clear
// while the ipsec configuration changes under traffic (issue 12: one cleartext GRE
// packet was seen on the wire in the pass of a default profile rename). Both routers
// keep renaming the default profile, setting the default proposal, adding, disabling
// and removing an unrelated peer and policy, each change a pass of the ipsec engine,
// while pings cross the tunnel both ways and keepalives go every second; tshark on the
// underlay must see IKE and ESP only.
func TestGREIPsecSecretChurn(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "tshark")
	nsA, nsB := iketest.NS(t, "gca"), iketest.NS(t, "gcb")
	iketest.Veth(t, nsA, "ether1", "", nsB, "ether1", "")
	a, b := startDaemon(t, nsA), startDaemon(t, nsB)
	a.script(`/ip address add address=198.18.94.1/24 interface=ether1
/interface gre add name=gre-tunnel1 local-address=198.18.94.1 remote-address=198.18.94.2 ipsec-secret=s3cret keepalive=1s,3
/ip address add address=198.18.20.1/30 interface=gre-tunnel1
`)
	b.script(`/ip address add address=198.18.94.2/24 interface=ether1
/interface gre add name=gre-tunnel1 remote-address=198.18.94.1 ipsec-secret=s3cret keepalive=1s,3
/ip address add address=198.18.20.2/30 interface=gre-tunnel1
`)
	if !iketest.WaitFor(60*time.Second, func() bool {
		return iketest.In(nsB, "ping", "-c", "1", "-W", "1", "198.18.20.1").Run() == nil
	}) {
		t.Fatalf("no traffic across the GRE tunnel:\n%s", b.script("/ip ipsec active-peers print detail\n/ip ipsec policy print detail\n/interface gre print detail\n"))
	}
	w := captureWire(t, nsA, "ether1")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range [][2]string{{nsB, "198.18.20.1"}, {nsA, "198.18.20.2"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				exec.CommandContext(ctx, "ip", "netns", "exec", p[0], "ping", "-q", "-c", "200", "-i", "0.01", "-W", "1", p[1]).Run()
			}
		}()
	}
	for i := 0; i < 12; i++ {
		for j, d := range []*daemon{a, b} {
			name := "renamed"
			if i%2 == 1 {
				name = "default"
			}
			other := fmt.Sprintf("198.18.95.%d", 10+j)
			d.script(fmt.Sprintf(`/ip ipsec profile set [ find default=yes ] name=%s
/ip ipsec proposal set [ find default=yes ] lifetime=%dm
/ip ipsec peer add name=churn address=%s/32 exchange-mode=ike2
/ip ipsec identity add peer=churn secret=churnsecret
/ip ipsec policy add src-address=198.18.96.0/24 dst-address=198.18.97.0/24 peer=churn tunnel=yes
/ip ipsec peer disable churn
/ip ipsec peer enable churn
`, name, 30+i, other))
			d.script(`/ip ipsec policy remove [ find dst-address=198.18.97.0/24 ]
/ip ipsec identity remove [ find peer=churn ]
/ip ipsec peer remove churn
`)
		}
		a.Settle()
		b.Settle()
	}
	cancel()
	wg.Wait()
	protos := w.protos()
	t.Logf("packets on the wire by protocol: %v", protos)
	if protos["47"] != 0 || protos["1"] != 0 || protos["50"] < 20 {
		t.Fatalf("want only ESP (50) and IKE (17) on the wire, got packets by protocol %v\n%s\n%s", protos,
			w.show("not esp and not udp"), a.script("/interface gre print stats detail\n/ip ipsec statistics print\n"))
	}
	// The keepalives crossed the SA and were answered all along: three unanswered in
	// a row would have cleared the running flag (the churn took well over 3 s).
	running := regexp.MustCompile(`(?m)^\s*\d+\s+[A-Z]*R[A-Z]*\s+name="gre-tunnel1"`)
	for _, d := range []*daemon{a, b} {
		if out := d.script("/interface gre print detail\n"); !running.MatchString(out) {
			t.Errorf("keepalives not answered through ESP: the tunnel is not running:\n%s", d.script("/interface gre print stats detail\n/ip ipsec statistics print\n"))
		}
	}
}
