package ipsec_test

import (
	"net"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestGREIPsecSecretNoCleartext: a GRE tunnel with an ipsec-secret whose peer never
// answers IKE sends nothing in the clear, not even in the moment between the tunnel
// coming up and its IPsec policy being installed: tshark, capturing before the tunnel
// exists, sees no GRE while pings try to cross it from the first moment.
func TestGREIPsecSecretNoCleartext(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "tshark")
	nsA, nsB := iketest.NS(t, "gwa"), iketest.NS(t, "gwb")
	iketest.Veth(t, nsA, "ether1", "", nsB, "ether1", "198.18.93.2/24")
	a := startDaemon(t, nsA)
	a.script("/ip address add address=198.18.93.1/24 interface=ether1\n")
	w := captureWire(t, nsA, "ether1")
	// Datagrams into the tunnel's network every 2 ms, from before the tunnel exists
	// until well after (sends fail while there is no route; they are retried).
	conn, err := iketest.ListenIn(nsA)("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		dst := &net.UDPAddr{IP: net.IPv4(198, 18, 19, 2), Port: 9}
		for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
			conn.WriteTo([]byte("cleartext?"), dst)
		}
	}()
	a.script(`/interface gre add name=gre-tunnel1 remote-address=198.18.93.2 ipsec-secret=s3cret
/ip address add address=198.18.19.1/30 interface=gre-tunnel1
`)
	<-done
	protos := w.protos()
	t.Logf("packets on the wire by protocol: %v", protos)
	if protos["47"] != 0 {
		t.Fatalf("%d GRE packets in the clear", protos["47"])
	}
	if protos["17"] == 0 {
		t.Fatalf("no IKE on the wire: the test did not exercise the tunnel\n%s", a.script("/interface gre print detail\n/ip ipsec policy print\n"))
	}
}
