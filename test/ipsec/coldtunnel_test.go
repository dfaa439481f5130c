package ipsec_test

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
	"github.com/routerd/routerd/test/testbin"
)

// TestTunnelSecretNoCleartextAtColdStart: on a host that boots (nothing of routerd's left
// in the kernel), a GRE tunnel with an ipsec-secret sends no GRE in the clear while
// routerd starts. Its transport policy is dynamic (the ipsec engine makes it from the
// tunnel), and the engines that make the tunnel and its addresses run before the ipsec
// engine's first pass. The peer never answers IKE, so there is never an SA: any GRE on
// the wire is cleartext. Datagrams are sent into the tunnel every 5 ms from before the
// start until well after it settled. ipsec.Prearm does not know the tunnel's policy; what
// holds its packets is the encapsulator's lookup in the IPsec selector table alone
// (control/tunnel ipsecTable), empty until the policy comes: with the main lookup
// instead, 5 GRE packets left in the clear.
func TestTunnelSecretNoCleartextAtColdStart(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "tshark")
	nsA, nsB := iketest.NS(t, "cta"), iketest.NS(t, "ctb")
	iketest.Veth(t, nsA, "ether1", "", nsB, "ether1", "198.18.95.2/24")
	a := startBin(t, nsA, filepath.Join(t.TempDir(), "data"))
	a.Script(`/ip address add address=198.18.95.1/24 interface=ether1
/interface gre add name=gre-tunnel1 remote-address=198.18.95.2 ipsec-secret=s3cret
/ip address add address=198.18.19.1/30 interface=gre-tunnel1
`)
	a.Settle()
	a.Stop()
	// What a reboot leaves of it: nothing.
	for _, fam := range []string{"-4", "-6"} {
		for _, pref := range []string{"218", "219", "220", "221", "222", "223", "224"} {
			for iketest.In(nsA, "ip", fam, "rule", "del", "pref", pref).Run() == nil {
			}
		}
		for _, table := range []string{"220", "221", "222"} {
			iketest.In(nsA, "ip", fam, "route", "flush", "table", table).Run()
		}
	}
	iketest.In(nsA, "ip", "link", "del", "gre-tunnel1").Run()
	iketest.Sh(t, "ip", "-n", nsA, "addr", "flush", "dev", "ether1")
	w := captureWire(t, nsA, "ether1")
	conn, err := iketest.ListenIn(nsA)("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dst := &net.UDPAddr{IP: net.IPv4(198, 18, 19, 2), Port: 9}
	stop := testbin.Repeat(5*time.Millisecond, func() bool {
		_, err := conn.WriteTo([]byte("cleartext?"), dst) // fails while there is no route
		return err == nil
	})
	if err := a.Start(); err != nil {
		stop()
		t.Fatal(err)
	}
	a.Settle()
	// The tunnel's address is what routes the datagrams into it.
	up := iketest.WaitFor(30*time.Second, func() bool {
		out, _ := iketest.In(nsA, "ip", "-4", "addr", "show", "dev", "gre-tunnel1").CombinedOutput()
		return strings.Contains(string(out), "198.18.19.1/30")
	})
	time.Sleep(time.Second) // more datagrams with everything in place
	tries, sent := stop()
	t.Logf("%d datagrams tried during the start, %d sent", tries, sent)
	if !up {
		t.Fatal("after the start the tunnel has no address")
	}
	protos := w.protos()
	t.Logf("packets on the wire by protocol: %v", protos)
	if protos["47"] != 0 {
		t.Fatalf("%d GRE packets in the clear during the start", protos["47"])
	}
	if protos["17"] == 0 {
		t.Fatal("no IKE on the wire: the test did not exercise the tunnel")
	}
}
