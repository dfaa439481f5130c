package ike

import (
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestSourceAddressReasons: why an initiation cannot send from its source address. A's
// WAN address 2001:db8:130::1 failed duplicate address detection (B has it): that
// never passes by itself, so the initiator gives up on it with the reason (a failed
// attempt on the usual backoff, "cannot initiate ... failed duplicate address
// detection"), whether it is the configured local address or the interface's only
// global address (the kernel then picks the link-local one). An IPv4 local address
// that is not on the router is waited for, and said to be missing, not tentative.
// Fails without the change: both IPv6 cases waited every second as "tentative or not on
// this router" / "a global address still tentative?" and the IPv4 one said tentative.
func TestSourceAddressReasons(t *testing.T) {
	iketest.NeedRoot(t, "ip")
	nsA, nsB := iketest.NS(t, "srcra"), iketest.NS(t, "srcrb")
	iketest.Sh(t, "ip", "-n", nsA, "link", "add", "wan", "type", "veth", "peer", "name", "wan", "netns", nsB)
	for _, ns := range []string{nsA, nsB} {
		iketest.Sh(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.wan.accept_dad=1", "net.ipv6.conf.wan.dad_transmits=1")
		iketest.Sh(t, "ip", "-n", ns, "link", "set", "wan", "up")
	}
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "2001:db8:130::1/64", "dev", "wan", "nodad")
	iketest.Sh(t, "ip", "-n", nsA, "addr", "add", "198.18.130.1/24", "dev", "wan")
	for _, ns := range []string{nsA, nsB} {
		if !iketest.WaitFor(10*time.Second, func() bool {
			return strings.Contains(iketest.Sh(t, "ip", "-n", ns, "-6", "addr", "show", "dev", "wan", "scope", "link", "-tentative"), "fe80")
		}) {
			t.Fatalf("%s: no usable link-local address", ns)
		}
	}
	iketest.Sh(t, "ip", "-n", nsA, "addr", "add", "2001:db8:130::1/64", "dev", "wan")
	if !iketest.WaitFor(10*time.Second, func() bool {
		return strings.Contains(iketest.Sh(t, "ip", "-n", nsA, "-6", "addr", "show", "dev", "wan"), "dadfailed")
	}) {
		t.Fatalf("A's address did not fail DAD:\n%s", iketest.Sh(t, "ip", "-n", nsA, "-6", "addr", "show", "dev", "wan"))
	}
	log := &lockedLog{}
	o := DefaultOptions()
	o.Listen = iketest.ListenIn(nsA)
	o.Do = func(f func() error) error { return iketest.Do(nsA, f) }
	o.Log = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := New(o, &keepChildren{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })

	remote6 := netip.MustParseAddr("2001:db8:130::2")
	dadFailed := netip.MustParseAddr("2001:db8:130::1")
	picked, err := d.localAddrFor(remote6)
	if err != nil {
		t.Fatalf("no source towards %s: %v", remote6, err)
	}
	for _, c := range []struct {
		name          string
		local, remote netip.Addr
		wait          bool
		want          string
	}{
		{"configured DADFAILED", dadFailed, remote6, false, "failed duplicate address detection: 2001:db8:130::1 on wan"},
		{"kernel's pick beside a DADFAILED address", picked, remote6, false, "failed duplicate address detection: 2001:db8:130::1 on wan, the interface towards 2001:db8:130::2"},
		{"IPv4 not on the router", netip.MustParseAddr("198.18.131.1"), netip.MustParseAddr("198.18.130.2"), true, "198.18.131.1 is not an address of this router"},
	} {
		d.mu.Lock()
		err := d.usableSource(c.local, c.remote)
		d.mu.Unlock()
		if err == nil || errors.Is(err, errSourceNotUsable) != c.wait || !strings.Contains(err.Error(), c.want) ||
			(!c.local.Is6() && strings.Contains(err.Error(), "tentative")) {
			t.Errorf("%s (from %s): %v, want %q (waited for: %v)", c.name, c.local, err, c.want, c.wait)
		}
	}

	// The daemon gives the peer up on the backoff of failed attempts, with the reason.
	p := v1TestPeer(t, "p", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, false, "2001:db8:201::/64", "2001:db8:101::/64")
	p.Remote = netip.PrefixFrom(remote6, 128)
	p.Local = dadFailed
	d.SetPeers([]*PeerConfig{p})
	if !iketest.WaitFor(10*time.Second, func() bool {
		return strings.Contains(log.String(), `level=WARN msg="ipsec: cannot initiate" peer=p err="source address failed duplicate address detection`)
	}) {
		t.Errorf("no warning that the source address failed DAD:\n%s", log.String())
	}
	if strings.Contains(log.String(), "waiting for a usable source address") {
		t.Errorf("waits for an address that failed DAD:\n%s", log.String())
	}
}
