package ipsec

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/ike/iketest"
)

type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
	t  *testing.T
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Log(strings.TrimSpace(string(p)))
	return l.b.Write(p)
}

func (l *logBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// startRouterLog is startRouter without a data path, with the engine's log kept for the
// test to read.
func startRouterLog(t *testing.T, ns string, w io.Writer) *router {
	t.Helper()
	return startRouterTo(t, ns, false, w)
}

// TestPeerAddressChange: a peer's address changed while its SA is up is applied at once
// (the old SA is deleted and the new address initiated), not at the next disable/enable.
func TestPeerAddressChange(t *testing.T) {
	nsA, nsB := twoSites(t)
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "198.18.90.3/24", "dev", "wan")
	a, b := startRouter(t, nsA, true), startRouter(t, nsB, true)
	b.run(t, siteToSite("ike1-site1", "198.18.90.1", "198.19.101.0/24", "198.19.202.0/24"))
	b.run(t, "/ip ipsec peer set ike1-site1 passive=yes")
	a.run(t, siteToSite("ike1-site2", "198.18.90.2", "198.19.202.0/24", "198.19.101.0/24"))
	if !iketest.WaitFor(20*time.Second, func() bool { return ping(nsA, "198.19.202.1", "198.19.101.1") == nil }) {
		t.Fatal("not up")
	}
	a.run(t, "/ip ipsec peer set ike1-site2 address=198.18.90.3/32")
	var out string
	if !iketest.WaitFor(20*time.Second, func() bool {
		out = a.run(t, "/ip ipsec active-peers print detail")
		return strings.Contains(out, "remote-address=198.18.90.3") && !strings.Contains(out, "remote-address=198.18.90.2") &&
			strings.Contains(out, "established")
	}) {
		t.Fatalf("new peer address not applied:\n%s", out)
	}
	if !iketest.WaitFor(20*time.Second, func() bool { return ping(nsA, "198.19.202.1", "198.19.101.1") == nil }) {
		t.Fatalf("no traffic after the address change:\n%s", a.run(t, "/ip ipsec installed-sa print detail"))
	}
	if sas := a.run(t, "/ip ipsec installed-sa print detail"); strings.Contains(sas, "198.18.90.2") {
		t.Errorf("SAs to the old address stayed:\n%s", sas)
	} else if strings.Contains(sas, "enc-key=") {
		t.Errorf("keys shown without show-sensitive:\n%s", sas)
	}
	// The keys only with show-sensitive (the session may see secrets).
	if sas := a.run(t, "/ip ipsec installed-sa print detail show-sensitive"); !strings.Contains(sas, "enc-key=") || !strings.Contains(sas, "auth-key=") {
		t.Errorf("no keys with show-sensitive:\n%s", sas)
	}
}

// TestInitiateBackoff: a peer without a route is retried with backoff and its reason
// logged once, not four times a second.
func TestInitiateBackoff(t *testing.T) {
	iketest.NeedRoot(t, "ip")
	ns := iketest.NS(t, "ipsbo")
	log := &logBuf{t: t}
	r := startRouterLog(t, ns, log)
	r.run(t, siteToSite("far", "198.19.250.1", "198.19.1.0/24", "198.19.2.0/24"))
	if !iketest.WaitFor(10*time.Second, func() bool { return strings.Contains(log.String(), "cannot initiate") }) {
		t.Fatalf("no initiation failure logged:\n%s", log)
	}
	time.Sleep(3 * time.Second)
	// Configuration changes elsewhere must not reset the backoff either.
	r.run(t, "/ip ipsec proposal add name=other")
	time.Sleep(time.Second)
	if n := strings.Count(log.String(), "cannot initiate"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, log)
	}
}

// TestIKEErrorStatistics: malformed IKE messages and messages for unknown SAs are
// counted under the reference's statistics names (and dropped without an answer): an
// IKE message for an unknown IKE SPI in in-errors, an ESP packet for an unknown SPI in
// in-no-states. Before, the unknown IKE SPI was counted in in-no-states, the ESP
// counter, where an operator looking for ESP without an SA found IKE noise.
func TestIKEErrorStatistics(t *testing.T) {
	iketest.NeedRoot(t, "ip")
	ns := iketest.NS(t, "ipsst")
	iketest.Sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	r := startRouterTo(t, ns, true, io.Discard)
	hdr := make([]byte, 28)
	binary.BigEndian.PutUint64(hdr[0:], 0x1122334455667788)
	binary.BigEndian.PutUint64(hdr[8:], 0x99aabbccddeeff00)
	hdr[16], hdr[17], hdr[18] = 46, 0x20, 37 // SK, IKEv2, INFORMATIONAL
	hdr[19] = 0x08                           // from the initiator
	binary.BigEndian.PutUint32(hdr[24:], 28)
	send := func(to string, pkts ...[]byte) {
		t.Helper()
		err := iketest.Do(ns, func() error {
			c, err := net.Dial("udp4", to)
			if err != nil {
				return err
			}
			defer c.Close()
			for _, p := range pkts {
				c.Write(p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	send("127.0.0.1:500", []byte("not an IKE message"), []byte{1, 2, 3}, hdr)
	stat := func(out, name string, n int) bool {
		return regexp.MustCompile(fmt.Sprintf(`\b%s: %d\b`, name, n)).MatchString(out)
	}
	var out string
	if !iketest.WaitFor(10*time.Second, func() bool {
		out = r.run(t, "/ip ipsec statistics print")
		return stat(out, "in-header-errors", 2) && stat(out, "in-errors", 1)
	}) || !stat(out, "in-no-states", 0) {
		t.Fatalf("IKE errors not counted under the reference's names (in-header-errors 2, in-errors 1, in-no-states 0):\n%s", out)
	}
	// ESP in UDP (a non-zero SPI where IKE has its non-ESP marker) for an SPI no SA has.
	// The data path comes up with the first peer (a passive one: nothing is sent).
	r.run(t, "/ip ipsec peer add name=p address=198.18.99.9/32 exchange-mode=ike2 passive=yes")
	if !iketest.WaitFor(10*time.Second, func() bool { return r.e.Datapath() != nil }) {
		t.Fatal("no ESP data path")
	}
	esp := make([]byte, 64)
	binary.BigEndian.PutUint32(esp, 0x12345678)
	binary.BigEndian.PutUint32(esp[4:], 1)
	send("127.0.0.1:4500", esp)
	if !iketest.WaitFor(10*time.Second, func() bool {
		out = r.run(t, "/ip ipsec statistics print")
		return stat(out, "in-no-states", 1)
	}) || !stat(out, "in-errors", 1) {
		t.Fatalf("ESP for an unknown SPI not counted in in-no-states (in-errors staying 1):\n%s", out)
	}
}

// TestRekeyNoLoss: CHILD SAs rekeyed under a ping flood, by their lifetimes and by both
// sides at the same moment (RFC 7296 2.8.1), lose no packet: the responder of a rekey
// sends on the new SA only once the old one is deleted, and the deleting side stops
// sending on an SA before it asks the peer to delete it.
func TestRekeyNoLoss(t *testing.T) {
	nsA, nsB := twoSites(t)
	a, b := startRouter(t, nsA, true), startRouter(t, nsB, true)
	conf := func(peer, src, dst string) string {
		return `/ip ipsec profile add name=r dh-group=ecp256 enc-algorithm=aes-128 hash-algorithm=sha256
/ip ipsec proposal add name=r enc-algorithms=aes-128-cbc auth-algorithms=sha256 pfs-group=none lifetime=6s
/ip ipsec peer add name=r address=` + peer + `/32 exchange-mode=ike2 profile=r
/ip ipsec identity add peer=r secret=rekey-psk
/ip ipsec policy add src-address=` + src + ` dst-address=` + dst + ` tunnel=yes proposal=r peer=r
`
	}
	b.run(t, conf("198.18.90.1", "198.19.101.0/24", "198.19.202.0/24"))
	a.run(t, conf("198.18.90.2", "198.19.202.0/24", "198.19.101.0/24"))
	if !iketest.WaitFor(20*time.Second, func() bool { return ping(nsA, "198.19.202.1", "198.19.101.1") == nil }) {
		t.Fatal("not up")
	}
	forced := 0
	out, err := pingFlood(t, nsA, func() {
		if sa, sb := firstChild(a), firstChild(b); sa != 0 && sb != 0 {
			go a.e.Daemon().RekeyChild(sa)
			b.e.Daemon().RekeyChild(sb)
			forced++
		}
	})
	if err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	if !strings.Contains(out, "5000 packets transmitted, 5000 received") {
		t.Errorf("packets lost across rekeys:\n%s\nA:\n%s\nB:\n%s", out, a.run(t, "/ip ipsec statistics print"), b.run(t, "/ip ipsec statistics print"))
	}
	ra, rb := a.e.Daemon().Stats.ChildRekeys.Load(), b.e.Daemon().Stats.ChildRekeys.Load()
	t.Logf("%d forced simultaneous rekeys; CHILD rekeys counted %d + %d\n%s", forced, ra, rb, out)
	if forced < 2 || ra+rb < 4 {
		t.Errorf("too few rekeys under the flood: forced %d, counted %d+%d", forced, ra, rb)
	}
}

// TestSimultaneousIKERekey: both routers rekey the IKE SA at the same moment (RFC 7296
// 2.8.2): both exchanges complete, the SA with the lowest nonce is deleted by its
// creator, and both sides end with the same single IKE SA carrying the CHILD SA, with no
// TEMPORARY_FAILURE round and no lost pings.
func TestSimultaneousIKERekey(t *testing.T) {
	nsA, nsB := twoSites(t)
	a, b := startRouter(t, nsA, true), startRouter(t, nsB, true)
	b.run(t, siteToSite("s", "198.18.90.1", "198.19.101.0/24", "198.19.202.0/24"))
	a.run(t, siteToSite("s", "198.18.90.2", "198.19.202.0/24", "198.19.101.0/24"))
	if !iketest.WaitFor(20*time.Second, func() bool { return ping(nsA, "198.19.202.1", "198.19.101.1") == nil }) {
		t.Fatal("not up")
	}
	spis := func(r *router) (out []uint64, children int) {
		for _, s := range r.e.Daemon().Snapshot() {
			if s.State == "established" {
				out = append(out, s.SPIi)
				children += len(s.Children)
			}
		}
		return out, children
	}
	// A lone IKE SA on each side first (both initiated at start; the duplicate goes).
	if !iketest.WaitFor(20*time.Second, func() bool {
		sa, _ := spis(a)
		sb, _ := spis(b)
		return len(sa) == 1 && len(sb) == 1
	}) {
		t.Fatal("duplicate IKE SAs stay")
	}
	before, _ := spis(a)
	pings := iketest.In(nsA, "ping", "-q", "-c", "60", "-i", "0.05", "-W", "2", "-I", "198.19.202.1", "198.19.101.1")
	var out strings.Builder
	pings.Stdout = &out
	if err := pings.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	go a.e.Daemon().RekeyIKE("s")
	b.e.Daemon().RekeyIKE("s")
	var sa, sb []uint64
	var ca, cb int
	if !iketest.WaitFor(20*time.Second, func() bool {
		sa, ca = spis(a)
		sb, cb = spis(b)
		return len(sa) == 1 && len(sb) == 1 && sa[0] == sb[0] && sa[0] != before[0] && ca == 1 && cb == 1
	}) {
		t.Fatalf("after simultaneous IKE rekey: A %x (%d children), B %x (%d children), before %x", sa, ca, sb, cb, before)
	}
	if err := pings.Wait(); err != nil || !strings.Contains(out.String(), " 0% packet loss") {
		t.Fatalf("pings across the simultaneous IKE rekey: %v\n%s", err, out.String())
	}
	if err := ping(nsA, "198.19.202.1", "198.19.101.1"); err != nil {
		t.Fatalf("no traffic after the rekey: %v", err)
	}
	if ra, rb := a.e.Daemon().Stats.IKERekeys.Load(), b.e.Daemon().Stats.IKERekeys.Load(); ra < 2 || rb < 2 {
		t.Errorf("IKE rekeys counted %d and %d: both exchanges should complete", ra, rb)
	}
}

// TestModeConfigSystemDNS: a responder mode config with system-dns (the default) hands
// out the servers of /ip dns after its static-dns; system-dns=no only static-dns.
func TestModeConfigSystemDNS(t *testing.T) {
	iketest.NeedRoot(t, "ip")
	ns := iketest.NS(t, "ipsdn")
	r := startRouterLog(t, ns, io.Discard)
	r.run(t, "/ip dns set servers=198.18.5.5,198.18.5.6")
	m, _ := r.e.ex.Tree.Get(ModeConfigPath)
	for _, c := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"name": "a", "responder": "yes", "static-dns": "198.18.9.9"}, "[198.18.9.9 198.18.5.5 198.18.5.6]"},
		{map[string]string{"name": "b", "responder": "yes", "static-dns": "198.18.9.9", "system-dns": "no"}, "[198.18.9.9]"},
		{map[string]string{"name": "c", "responder": "no"}, "[]"},
	} {
		var it modeConfigItem
		if err := engine.Decode(m, store.Item{Props: c.props}, &it); err != nil {
			t.Fatal(err)
		}
		mc, _, err := r.e.decodeModeConfig(it)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(mc.DNS); got != c.want {
			t.Errorf("%v: DNS %s, want %s", c.props, got, c.want)
		}
	}
}

// TestChildRekeyDuringIKERekey: a CHILD SA rekey whose delete of the old SA is queued
// behind an IKE SA rekey: the delete is asked again on the new IKE SA, so the peer
// stops sending on the old SA at once (it used to go on until its fallback, losing
// seconds of traffic) and neither side keeps the old CHILD SA.
func TestChildRekeyDuringIKERekey(t *testing.T) {
	nsA, nsB := twoSites(t)
	a, b := startRouter(t, nsA, true), startRouter(t, nsB, true)
	b.run(t, siteToSite("s", "198.18.90.1", "198.19.101.0/24", "198.19.202.0/24"))
	b.run(t, "/ip ipsec peer set s passive=yes")
	a.run(t, siteToSite("s", "198.18.90.2", "198.19.202.0/24", "198.19.101.0/24"))
	if !iketest.WaitFor(20*time.Second, func() bool { return ping(nsA, "198.19.202.1", "198.19.101.1") == nil }) {
		t.Fatal("not up")
	}
	children := func(r *router) (n int, spi uint32) {
		for _, s := range r.e.Daemon().Snapshot() {
			for _, c := range s.Children {
				n, spi = n+1, c.InSPI
			}
		}
		return n, spi
	}
	_, old := children(a)
	pings := iketest.In(nsA, "ping", "-q", "-c", "300", "-i", "0.01", "-W", "2", "-I", "198.19.202.1", "198.19.101.1")
	var out strings.Builder
	pings.Stdout = &out
	if err := pings.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	a.e.Daemon().RekeyChild(old)
	a.e.Daemon().RekeyIKE("s")
	if !iketest.WaitFor(15*time.Second, func() bool {
		na, sa := children(a)
		nb, _ := children(b)
		return na == 1 && nb == 1 && sa != old
	}) {
		na, _ := children(a)
		nb, _ := children(b)
		t.Fatalf("children after the rekeys: A %d, B %d", na, nb)
	}
	if err := pings.Wait(); err != nil || !strings.Contains(out.String(), " 0% packet loss") {
		t.Fatalf("pings across the rekeys: %v\n%s", err, out.String())
	}
}

// TestIperfAcrossRekeys: a TCP flow (iperf3) through the tunnel between two routerd
// keeps going across several CHILD SA rekeys (4 s lifetimes): iperf3 completes, and no
// two consecutive seconds pass without data.
func TestIperfAcrossRekeys(t *testing.T) {
	nsA, nsB := twoSites(t)
	a, b := startRouter(t, nsA, true), startRouter(t, nsB, true)
	conf := func(peer, src, dst string) string {
		return `/ip ipsec profile add name=r dh-group=ecp256 enc-algorithm=aes-128 hash-algorithm=sha256
/ip ipsec proposal add name=r enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=ecp256 lifetime=4s
/ip ipsec peer add name=r address=` + peer + `/32 exchange-mode=ike2 profile=r
/ip ipsec identity add peer=r secret=iperf-psk
/ip ipsec policy add src-address=` + src + ` dst-address=` + dst + ` tunnel=yes proposal=r peer=r
`
	}
	b.run(t, conf("198.18.90.1", "198.19.101.0/24", "198.19.202.0/24"))
	a.run(t, conf("198.18.90.2", "198.19.202.0/24", "198.19.101.0/24"))
	if !iketest.WaitFor(20*time.Second, func() bool { return ping(nsA, "198.19.202.1", "198.19.101.1") == nil }) {
		t.Fatal("not up")
	}
	before := a.e.Daemon().Stats.ChildRekeys.Load() + b.e.Daemon().Stats.ChildRekeys.Load()
	r, err := iketest.IperfTCP(t, nsB, "198.19.101.1", nsA, "198.19.202.1", 12)
	rekeys := a.e.Daemon().Stats.ChildRekeys.Load() + b.e.Daemon().Stats.ChildRekeys.Load() - before
	t.Logf("iperf3: %d bytes, per second %v; %d CHILD rekeys during the run", r.Bytes, r.Intervals, rekeys)
	if err != nil {
		t.Fatalf("the TCP flow broke across rekeys: %v\n%s\n%s", err, r.Output, a.run(t, "/ip ipsec statistics print"))
	}
	if s := r.LongestStall(); s >= 2 || len(r.Intervals) < 10 {
		t.Errorf("the flow stalled %d s (intervals %v)", s, r.Intervals)
	}
	if rekeys < 3 {
		t.Errorf("only %d CHILD rekeys during the run", rekeys)
	}
}
