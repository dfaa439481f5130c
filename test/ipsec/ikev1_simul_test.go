package ipsec_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestIKEv1SimultaneousStart: the reference's Site to Site IPsec (IKEv1) example on
// two routerd configured at the same moment, with the link held down (nftables drops
// IKE on both) until both have sent their first Phase 1 message, so that both
// initiate and both ISAKMP SAs come up. The redundant one is deleted with a delete
// notification: one ISAKMP SA and one phase 2 per policy remain on each side, and
// ping crosses. With INITIAL-CONTACT (the default) the contact notify settles it; with
// send-initial-contact=no the larger initiator cookie loses.
func TestIKEv1SimultaneousStart(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "nft")
	for _, ic := range []string{"yes", "no"} {
		t.Run("send-initial-contact="+ic, func(t *testing.T) { simultaneousStart(t, ic) })
	}
}

func simultaneousStart(t *testing.T, initialContact string) {
	nsA, nsB := iketest.NS(t, "ike1sa"), iketest.NS(t, "ike1sb")
	iketest.Veth(t, nsA, "ether1", "", nsB, "ether1", "")
	site1, site2 := startDaemon(t, nsA), startDaemon(t, nsB)
	site1.script("/ip address add address=198.18.90.1/24 interface=ether1\n/interface bridge add name=office\n/ip address add address=198.19.202.1/24 interface=office\n")
	site2.script("/ip address add address=198.18.90.2/24 interface=ether1\n/interface bridge add name=office\n/ip address add address=198.19.101.1/24 interface=office\n")
	for _, ns := range []string{nsA, nsB} {
		block := iketest.In(ns, "nft", "-f", "-")
		block.Stdin = strings.NewReader("table inet ikeblock {\n chain in {\n  type filter hook input priority -300\n  udp dport { 500, 4500 } drop\n }\n}\n")
		if out, err := block.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v %s", err, out)
		}
	}
	var wg sync.WaitGroup
	for _, c := range []struct {
		d                    *daemon
		name, peer, src, dst string
	}{{site1, "ike1-site2", "198.18.90.2", "198.19.202.0/24", "198.19.101.0/24"}, {site2, "ike1-site1", "198.18.90.1", "198.19.101.0/24", "198.19.202.0/24"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.d.script(`/ip ipsec profile
add dh-group=modp2048 enc-algorithm=aes-128 name=` + c.name + `
/ip ipsec proposal
add enc-algorithms=aes-128-cbc name=` + c.name + ` pfs-group=modp2048
/ip ipsec peer
add address=` + c.peer + `/32 name=` + c.name + ` profile=` + c.name + ` send-initial-contact=` + initialContact + `
/ip ipsec identity
add peer=` + c.name + ` secret=thisisnotasecurepsk
/ip ipsec policy
add src-address=` + c.src + ` src-port=any dst-address=` + c.dst + ` dst-port=any tunnel=yes action=encrypt proposal=` + c.name + ` peer=` + c.name + `
`)
		}()
	}
	wg.Wait()
	// Both have started Phase 1 (site 2 hears nothing yet); then the link opens.
	if !iketest.WaitFor(20*time.Second, func() bool {
		return strings.Contains(site1.script("/ip ipsec active-peers print detail\n"), "message-1-sent") &&
			strings.Contains(site2.script("/ip ipsec active-peers print detail\n"), "message-1-sent")
	}) {
		t.Fatalf("both sides did not initiate:\n%s\n%s", site1.script("/ip ipsec active-peers print detail\n"), site2.script("/ip ipsec active-peers print detail\n"))
	}
	for _, ns := range []string{nsA, nsB} {
		iketest.Sh(t, "ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "ikeblock")
	}
	settled := func(d *daemon) bool {
		peers := d.script("/ip ipsec active-peers print detail\n")
		sas := d.script("/ip ipsec installed-sa print detail\n")
		return strings.Count(peers, `state="established"`) == 1 && strings.Count(peers, "remote-address=") == 1 &&
			strings.Count(sas, "spi=") == 2 && strings.Contains(d.script("/ip ipsec policy print detail\n"), "ph2-count=1")
	}
	if !iketest.WaitFor(30*time.Second, func() bool { return settled(site1) && settled(site2) }) {
		for _, d := range []*daemon{site1, site2} {
			t.Logf("%s\n%s\n%s", d.script("/ip ipsec active-peers print detail\n"), d.script("/ip ipsec installed-sa print detail\n"),
				d.script("/ip ipsec policy print detail\n"))
		}
		t.Fatal("not one ISAKMP SA and one phase 2 per side")
	}
	// It stays so (no late duplicates), and traffic crosses.
	time.Sleep(2 * time.Second)
	if !settled(site1) || !settled(site2) {
		t.Fatal("a duplicate came back")
	}
	if !strings.Contains(site1.script("/log print\n")+site2.script("/log print\n"), "peer deleted the ISAKMP SA") {
		t.Error("no delete notification for the redundant ISAKMP SA")
	}
	if !iketest.WaitFor(10*time.Second, func() bool {
		return iketest.In(nsA, "ping", "-c", "1", "-W", "1", "-I", "198.19.202.1", "198.19.101.1").Run() == nil
	}) {
		t.Fatalf("no ping across:\n%s", site1.script("/ip ipsec statistics print\n"))
	}
}
