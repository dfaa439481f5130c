package ipsec

import (
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestGenericPolicyExample runs the reference's "Using generic IPsec policy" as written
// (1.1.1.1 is 198.18.90.1, the L2TP client 10.5.130.71 is 198.18.90.2): the static
// discard policy drops cleartext L2TP to the server, while the client's L2TP over an SA
// passes through the policy generated from the template above it. print shows what the
// reference shows: the template, the dynamic policy at the template's place, then the
// discard policy with its sa-src-address and sa-dst-address=0.0.0.0.
func TestGenericPolicyExample(t *testing.T) {
	nsA, nsB := twoSites(t)
	a, b := startRouter(t, nsA, true), startRouter(t, nsB, true)
	a.run(t, `/ip ipsec peer add name=l2tp address=198.18.90.2/32 exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=l2tp secret=generic-policy-psk generate-policy=port-strict
/ip ipsec policy
add src-address=198.18.90.1 dst-address=0.0.0.0/0 sa-src-address=198.18.90.1 protocol=udp src-port=1701 tunnel=yes action=discard
`)
	srv, err := iketest.ListenIn(nsA)("udp4", &net.UDPAddr{IP: net.IPv4(198, 18, 90, 1), Port: 1701})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := iketest.ListenIn(nsB)("udp4", &net.UDPAddr{IP: net.IPv4(198, 18, 90, 2), Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	l2tp := &net.UDPAddr{IP: net.IPv4(198, 18, 90, 1), Port: 1701}
	received := func(msg string) bool {
		for i := 0; i < 5; i++ {
			if _, err := cli.WriteTo([]byte(msg), l2tp); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			srv.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, _, err := srv.ReadFrom(buf)
			if err == nil && string(buf[:n]) == msg {
				return true
			}
		}
		return false
	}
	// Cleartext L2TP is dropped, and counted as the reference's in-policy-blocked.
	if received("cleartext") {
		t.Fatal("cleartext L2TP passed the discard policy")
	}
	if st := a.run(t, "/ip ipsec statistics print"); !regexp.MustCompile(`in-policy-blocked: [1-9]`).MatchString(st) {
		t.Errorf("discarded packets not counted:\n%s", st)
	}
	// set sa-dst-address keeps it a discard policy without a peer (QA).
	a.run(t, "/ip ipsec policy set [find action=discard] sa-dst-address=198.18.90.9")
	if got := a.run(t, ":put [/ip ipsec policy get [find action=discard] peer]"); strings.TrimSpace(got) != "" {
		t.Errorf("set sa-dst-address gave the discard policy peer=%q", got)
	}
	if got := a.run(t, ":put [/ip ipsec policy get [find action=discard] sa-dst-address]"); strings.TrimSpace(got) != "198.18.90.9" {
		t.Errorf("sa-dst-address = %q, want 198.18.90.9", got)
	}
	a.run(t, "/ip ipsec policy unset [find action=discard] sa-dst-address")

	// The L2TP/IPsec client: a transport policy for its L2TP to the server.
	b.run(t, `/ip ipsec peer add name=srv address=198.18.90.1/32 exchange-mode=ike2
/ip ipsec identity add peer=srv secret=generic-policy-psk
/ip ipsec policy add src-address=198.18.90.2/32 dst-address=198.18.90.1/32 protocol=udp dst-port=1701 peer=srv
`)
	if !iketest.WaitFor(20*time.Second, func() bool { return received("over-ipsec") }) {
		t.Fatalf("L2TP over IPsec did not pass:\n%s\n%s", a.run(t, "/ip ipsec policy print"), a.run(t, "/ip ipsec statistics print"))
	}
	out := a.run(t, "/ip ipsec policy print")
	t.Logf("\n%s", out)
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		`0 T* group="default" src-address=::/0 dst-address=::/0 protocol=all proposal="default" template=yes`,
		`1 DA src-address=198.18.90.1/32 src-port=1701 dst-address=198.18.90.2/32 dst-port=any protocol=udp action=encrypt level=require ipsec-protocols=esp tunnel=no sa-src-address=198.18.90.1 sa-dst-address=198.18.90.2 proposal="default" ph2-count=1`,
		`2 src-address=198.18.90.1/32 src-port=1701 dst-address=0.0.0.0/0 dst-port=any protocol=udp action=discard level=require ipsec-protocols=esp tunnel=yes sa-src-address=198.18.90.1 sa-dst-address=0.0.0.0 proposal="default"`,
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("print lacks\n  %s", want)
		}
	}
	// The export keeps the discard policy as written.
	if exp := a.run(t, "/ip ipsec policy export"); !strings.Contains(exp, "sa-src-address=198.18.90.1") || strings.Contains(exp, "peer=") {
		t.Errorf("export:\n%s", exp)
	}
}
