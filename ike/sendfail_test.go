package ike

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestSendFailureLogged (QA issue 12): every IKE_SA_INIT the kernel refuses to send (here
// an output rule drops IKE, so sendmsg fails EPERM; at boot it was EINVAL from a
// link-local source) is no longer a debug line only: the first refusal is a warning
// naming the peer, the addresses and the error, the retransmits' repeats are not, and
// the attempt given up says in its warning that sending failed (not only "no answer").
func TestSendFailureLogged(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nft")
	ns := iketest.NS(t, "ikesf")
	iketest.Sh(t, "ip", "-n", ns, "link", "add", "wan", "type", "veth", "peer", "name", "wanp")
	iketest.Sh(t, "ip", "-n", ns, "addr", "add", "198.18.97.1/24", "dev", "wan")
	iketest.Sh(t, "ip", "-n", ns, "link", "set", "wan", "up")
	iketest.Sh(t, "ip", "-n", ns, "link", "set", "wanp", "up")
	nft := iketest.In(ns, "nft", "-f", "-")
	nft.Stdin = strings.NewReader("table inet t {\n chain out {\n  type filter hook output priority 0\n  udp dport 500 drop\n }\n}\n")
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	l := &lockedLog{}
	o := DefaultOptions()
	o.Port, o.NATPort = 17500, 17501
	o.Retransmit, o.Retries = 100*time.Millisecond, 2
	o.Listen = iketest.ListenIn(ns)
	o.Log = slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, err := New(o, &keepChildren{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	p := v1TestPeer(t, "far", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "send-failure-psk", 500, false, "198.19.1.0/24", "198.19.2.0/24")
	p.Remote = netip.MustParsePrefix("198.18.97.2/32")
	d.SetPeers([]*PeerConfig{p})
	if !iketest.WaitFor(10*time.Second, func() bool { return strings.Contains(l.String(), "ipsec: IKE SA failed") }) {
		t.Fatalf("the attempt was not given up:\n%s", l)
	}
	log := l.String()
	warn := `level=WARN msg="ipsec: sending to the peer failed" peer=far local=198.18.97.1:17500 remote=198.18.97.2:500 err=`
	if n := strings.Count(log, warn); n != 1 {
		t.Errorf("the send failure logged %d times at warning level, want once (3 sends):\n%s", n, log)
	}
	if !strings.Contains(log, `level=WARN msg="ipsec: IKE SA failed" peer=far remote=198.18.97.2 reason="no answer to IKE_SA_INIT after 3 tries (sending failed: `) ||
		!strings.Contains(log, "operation not permitted") {
		t.Errorf("the given-up attempt does not say sending failed:\n%s", log)
	}
	if strings.Contains(log, "send-failure-psk") {
		t.Errorf("the secret is in the log")
	}
}
