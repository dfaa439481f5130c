package ike

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// Two IKEv1 daemons in one namespace, talking through a UDP relay that records what
// the first sends (to replay it) and can cut the link (DPD).

type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

type keepChildren struct {
	mu sync.Mutex
	m  map[uint32]*ChildSA
}

func (k *keepChildren) InstallChild(c *ChildSA) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[uint32]*ChildSA{}
	}
	k.m[c.InSPI] = c
	return nil
}

func (k *keepChildren) RemoveChild(c *ChildSA) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, c.InSPI)
	return nil
}

func (k *keepChildren) InputESP([]byte, netip.AddrPort, netip.AddrPort) {}

func (k *keepChildren) all() []*ChildSA {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []*ChildSA
	for _, c := range k.m {
		out = append(out, c)
	}
	return out
}

type relay struct {
	c     *net.UDPConn
	a, b  *net.UDPAddr
	cut   atomic.Bool
	toA   atomic.Int64 // when the last datagram to A went (UnixNano)
	mu    sync.Mutex
	fromA [][]byte

	// filter, when set, says what to forward instead of a datagram: nothing (a
	// loss), the datagram, or copies of it (a duplicating network).
	filter atomic.Pointer[func(pkt []byte, toA bool) [][]byte]
}

func (r *relay) run() {
	buf := make([]byte, 65536)
	for {
		n, from, err := r.c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if r.cut.Load() {
			continue
		}
		pkt := append([]byte(nil), buf[:n]...)
		to := r.a
		if from.Port == r.a.Port {
			to = r.b
			r.mu.Lock()
			r.fromA = append(r.fromA, pkt)
			r.mu.Unlock()
		}
		out := [][]byte{pkt}
		if f := r.filter.Load(); f != nil {
			out = (*f)(pkt, to == r.a)
		}
		for _, p := range out {
			r.c.WriteToUDP(p, to)
		}
		if to == r.a {
			r.toA.Store(time.Now().UnixNano())
		}
	}
}

// sentByA returns the recorded messages A sent of an exchange type.
func (r *relay) sentByA(exch ExchangeType) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, p := range r.fromA {
		if len(p) >= HeaderLen && ExchangeType(p[18]) == exch {
			out = append(out, p)
		}
	}
	return out
}

type v1Pair struct {
	a, b      *Daemon
	la, lb    *lockedLog
	ka, kb    *keepChildren
	r         *relay
	send      func(b []byte) // a datagram to B, from the relay's address
	peerA     *PeerConfig
	peerB     *PeerConfig
	namespace string
}

const (
	v1PortA, v1NATA = 20500, 24500
	v1PortB, v1NATB = 21500, 25500
	v1PortRelay     = 22500
)

func v1TestPeer(t *testing.T, name string, mode ExchangeMode, ikeProp, espProp, psk string, port uint16, passive bool, local, remote string) *PeerConfig {
	p := DefaultPeer()
	p.Name = name
	p.Exchange = mode
	p.Remote = netip.MustParsePrefix("127.0.0.1/32")
	p.Port = port
	p.Passive = passive
	p.NATTraversal = false // the relay is a NAT of sorts; these tests keep to port 500
	p.DPDInterval = 0
	ip, err := ParseProposal(ikeProp, ProtoIKE)
	if err != nil {
		t.Fatal(err)
	}
	p.Proposals = []Proposal{ip}
	ep, err := ParseProposal(espProp, ProtoESP)
	if err != nil {
		t.Fatal(err)
	}
	p.Identities = []*IdentityConfig{{Name: "i", Method: AuthMethodPSK, PSK: []byte(psk), MyID: IDSpec{Auto: true}, RemoteID: IDSpec{Auto: true}}}
	p.Children = []*ChildConfig{{ID: 1, Local: SelectorFromPrefix(netip.MustParsePrefix(local), 0, 0),
		Remote: SelectorFromPrefix(netip.MustParsePrefix(remote), 0, 0), Tunnel: true, Proposals: []Proposal{ep}, Lifetime: 30 * time.Minute}}
	return p
}

func newV1Pair(t *testing.T, tweak func(*Options)) *v1Pair {
	iketest.NeedRoot(t, "ip")
	ns := iketest.NS(t, "ikev1u")
	pr := &v1Pair{la: &lockedLog{}, lb: &lockedLog{}, ka: &keepChildren{}, kb: &keepChildren{}, namespace: ns}
	mk := func(port, nat uint16, l *lockedLog, k *keepChildren) *Daemon {
		o := DefaultOptions()
		o.Port, o.NATPort = port, nat
		o.Retransmit = 300 * time.Millisecond
		if tweak != nil {
			tweak(&o)
		}
		o.Listen = iketest.ListenIn(ns)
		o.Log = slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
		d, err := New(o, k)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	pr.a = mk(v1PortA, v1NATA, pr.la, pr.ka)
	pr.b = mk(v1PortB, v1NATB, pr.lb, pr.kb)
	c, err := iketest.ListenIn(ns)("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: v1PortRelay})
	if err != nil {
		t.Fatal(err)
	}
	pr.r = &relay{c: c, a: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: v1PortA}, b: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: v1PortB}}
	go pr.r.run()
	t.Cleanup(func() { c.Close() })
	pr.send = func(b []byte) { c.WriteToUDP(b, pr.r.b) }
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("A:\n%s\nB:\n%s", pr.la, pr.lb)
		}
	})
	return pr
}

// start configures A (initiator, to the relay) and B (responder, from the relay).
func (pr *v1Pair) start(a, b *PeerConfig) {
	pr.peerA, pr.peerB = a, b
	pr.b.SetPeers([]*PeerConfig{b})
	pr.a.SetPeers([]*PeerConfig{a})
}

func (pr *v1Pair) established(t *testing.T) {
	t.Helper()
	if !iketest.WaitFor(20*time.Second, func() bool { return len(pr.ka.all()) == 1 && len(pr.kb.all()) == 1 }) {
		t.Fatalf("no IPsec SA pair: A %d, B %d", len(pr.ka.all()), len(pr.kb.all()))
	}
	ca, cb := pr.ka.all()[0], pr.kb.all()[0]
	if ca.OutSPI != cb.InSPI || ca.InSPI != cb.OutSPI || !bytes.Equal(ca.OutEncKey, cb.InEncKey) ||
		!bytes.Equal(ca.OutIntegKey, cb.InIntegKey) || !bytes.Equal(ca.InEncKey, cb.OutEncKey) {
		t.Fatalf("the two sides' keys differ:\nA %+v\nB %+v", ca, cb)
	}
}

// TestIKEv1Modes: main, aggressive and base mode (routerd to routerd: strongSwan has
// no base mode) with and without PFS; both sides derive the same IPsec keys.
func TestIKEv1Modes(t *testing.T) {
	for _, c := range []struct {
		name     string
		mode     ExchangeMode
		ike, esp string
	}{
		{"main", ExchangeMain, "aes128-sha1-modp2048", "aes128-sha1-modp2048"},
		{"aggressive", ExchangeAggressive, "aes256-sha256-ecp256", "aes256gcm16"},
		{"base", ExchangeBase, "3des-sha1-modp1024", "aes128-sha256-modp1024"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pr := newV1Pair(t, nil)
			pr.start(v1TestPeer(t, "b", c.mode, c.ike, c.esp, "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24"),
				v1TestPeer(t, "a", c.mode, c.ike, c.esp, "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24"))
			pr.established(t)
			if s := pr.b.Snapshot(); len(s) != 1 || s[0].Initiator || s[0].Suite == "" {
				t.Fatalf("B's SA: %+v", s)
			}
		})
	}
}

// TestIKEv1BadInput: a replayed Quick Mode message, a forged one (its hash cannot
// verify), garbage and a replayed informational are counted and dropped; the SAs stay;
// then the link is cut and DPD declares the peer dead.
func TestIKEv1BadInput(t *testing.T) {
	pr := newV1Pair(t, nil)
	a := v1TestPeer(t, "b", ExchangeMain, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
	b := v1TestPeer(t, "a", ExchangeMain, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
	a.DPDInterval, a.DPDMaxFailures = 700*time.Millisecond, 4 // ~3 s without answers: robust under load
	pr.start(a, b)
	pr.established(t)
	qm := pr.r.sentByA(v1ExchQuick)
	if len(qm) < 2 {
		t.Fatalf("recorded %d quick mode messages", len(qm))
	}
	st := &pr.b.Stats
	stale0, bad0, mal0 := st.ReplayedOrStale.Load(), st.BadIntegrity.Load(), st.Malformed.Load()
	pr.send(qm[0]) // the first Quick Mode message again
	pr.send(qm[len(qm)-1])
	forged := append([]byte(nil), qm[0]...)
	binary.BigEndian.PutUint32(forged[20:], 0x01020304) // a new message ID: a fresh Quick Mode whose hash fails
	rand.Read(forged[HeaderLen:])
	pr.send(forged)
	pr.send([]byte{1, 2, 3})
	pr.send(append(append([]byte(nil), qm[0][:HeaderLen]...), 0xff)) // length says more than sent
	if !iketest.WaitFor(5*time.Second, func() bool {
		return st.ReplayedOrStale.Load() >= stale0+2 && st.BadIntegrity.Load() >= bad0+1 && st.Malformed.Load() >= mal0+3
	}) {
		t.Fatalf("stale %d->%d, bad integrity %d->%d, malformed %d->%d", stale0, st.ReplayedOrStale.Load(), bad0,
			st.BadIntegrity.Load(), mal0, st.Malformed.Load())
	}
	if len(pr.kb.all()) != 1 || len(pr.b.Snapshot()) != 1 {
		t.Fatalf("B lost its SAs: %d children, %d SAs", len(pr.kb.all()), len(pr.b.Snapshot()))
	}
	// DPD answers keep the SA while the link is up...
	time.Sleep(2 * time.Second)
	if s := pr.a.Snapshot(); len(s) != 1 || s[0].State != "established" {
		t.Fatalf("A lost its SA with the link up: %+v", s)
	}
	// ...and find the peer dead when it is cut.
	pr.r.cut.Store(true)
	if !iketest.WaitFor(15*time.Second, func() bool { return pr.a.Stats.DPDFailures.Load() == 1 && len(pr.ka.all()) == 0 }) {
		t.Fatalf("DPD did not find the peer dead: failures %d, children %d", pr.a.Stats.DPDFailures.Load(), len(pr.ka.all()))
	}
}

// TestIKEv1WrongPSK: the responder cannot read message 5 and says why in RouterOS's
// words, once; the initiator gives up with "phase1 negotiation failed due to time up".
func TestIKEv1WrongPSK(t *testing.T) {
	pr := newV1Pair(t, func(o *Options) { o.Retries = 2; o.Retransmit = 200 * time.Millisecond })
	pr.start(v1TestPeer(t, "b", ExchangeMain, "aes128-sha1-modp2048", "aes128-sha1", "right", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24"),
		v1TestPeer(t, "a", ExchangeMain, "aes128-sha1-modp2048", "aes128-sha1", "wrong", 0, true, "198.19.2.0/24", "198.19.1.0/24"))
	if !iketest.WaitFor(15*time.Second, func() bool {
		return strings.Contains(pr.la.String(), "phase1 negotiation failed due to time up")
	}) {
		t.Fatal("initiator did not time out")
	}
	pr.a.SetPeers(nil) // no new attempts
	if n := strings.Count(pr.lb.String(), "parsing packet failed, possible cause: wrong password"); n < 1 {
		t.Fatalf("responder logged the wrong key %d times", n)
	}
	if pr.b.Stats.AuthFailed.Load() == 0 || len(pr.kb.all()) != 0 || len(pr.ka.all()) != 0 {
		t.Fatalf("auth failures %d, children %d/%d", pr.b.Stats.AuthFailed.Load(), len(pr.ka.all()), len(pr.kb.all()))
	}
	// The initiator's retransmissions of message 5 find no SA: counted, not logged again.
	first := strings.Count(pr.lb.String(), "wrong password")
	if first > 2 || pr.b.Stats.NoSA.Load() == 0 {
		t.Fatalf("wrong key logged %d times, no-SA drops %d", first, pr.b.Stats.NoSA.Load())
	}
}

// TestIKEv1ProposalMismatch: the responder logs RouterOS's lines for each rejected
// transform, ours before the colon, and "no suitable proposal found."; the initiator
// ends on the NO-PROPOSAL-CHOSEN notify.
func TestIKEv1ProposalMismatch(t *testing.T) {
	pr := newV1Pair(t, nil)
	pr.start(v1TestPeer(t, "b", ExchangeMain, "3des-md5-modp1024", "aes128-sha1", "k", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24"),
		v1TestPeer(t, "a", ExchangeMain, "aes128-sha1-modp1024", "aes128-sha1", "k", 0, true, "198.19.2.0/24", "198.19.1.0/24"))
	if !iketest.WaitFor(10*time.Second, func() bool { return strings.Contains(pr.la.String(), "NO-PROPOSAL-CHOSEN") }) {
		t.Fatal("initiator did not see NO-PROPOSAL-CHOSEN")
	}
	log := pr.lb.String()
	for _, want := range []string{
		"rejected enctype: DB(prop#1:trns#1):Peer(prop#1:trns#1) = AES-CBC:3DES-CBC",
		"no suitable proposal found.",
		"127.0.0.1 phase1 negotiation failed.",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("responder log lacks %q:\n%s", want, log)
		}
	}
	if pr.b.Stats.NoProposal.Load() == 0 {
		t.Error("no-proposal not counted")
	}
}

// TestIKEv1ProposalCheck: the responder's proposal-check decides on the initiator's
// Phase 2 lifetime of 30 minutes against its own 10.
func TestIKEv1ProposalCheck(t *testing.T) {
	for _, c := range []struct {
		check string
		ok    bool
		life  time.Duration // the initiator's IPsec SA lifetime afterwards
	}{
		{"obey", true, 30 * time.Minute},
		{"claim", true, 10 * time.Minute},
		{"strict", false, 0},
		{"exact", false, 0},
	} {
		t.Run(c.check, func(t *testing.T) {
			pr := newV1Pair(t, nil)
			a := v1TestPeer(t, "b", ExchangeMain, "aes128-sha1-modp2048", "aes128-sha1", "k", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
			b := v1TestPeer(t, "a", ExchangeMain, "aes128-sha1-modp2048", "aes128-sha1", "k", 0, true, "198.19.2.0/24", "198.19.1.0/24")
			b.ProposalCheck = c.check
			b.Children[0].Lifetime = 10 * time.Minute
			pr.start(a, b)
			if !c.ok {
				if !iketest.WaitFor(10*time.Second, func() bool { return strings.Contains(pr.la.String(), "NO-PROPOSAL-CHOSEN") }) {
					t.Fatal("initiator was not refused")
				}
				if len(pr.ka.all())+len(pr.kb.all()) != 0 {
					t.Fatal("an IPsec SA came up")
				}
				return
			}
			pr.established(t)
			if got := pr.ka.all()[0].Lifetime; got != c.life {
				t.Fatalf("initiator's lifetime %v, want %v", got, c.life)
			}
			if got := pr.kb.all()[0].Lifetime; got != c.life {
				t.Fatalf("responder's lifetime %v, want %v", got, c.life)
			}
		})
	}
}

// TestIKEv1SharedAddress: two peers on one address, told apart by exchange mode (the
// reference: "Exchange mode is the only unique identifier between the peers"), each
// with its own key; IKEv2 on the same address too.
func TestIKEv1SharedAddress(t *testing.T) {
	pr := newV1Pair(t, nil)
	mk := func(name string, mode ExchangeMode, psk string, id uint64, passive bool, l, r string) *PeerConfig {
		p := v1TestPeer(t, name, mode, "aes128-sha1-modp2048", "aes128-sha1", psk, v1PortRelay, passive, l, r)
		if passive {
			p.Port = 0
		}
		p.Children[0].ID = id
		return p
	}
	pr.b.SetPeers([]*PeerConfig{
		mk("main", ExchangeMain, "key-main", 1, true, "198.19.2.0/24", "198.19.1.0/24"),
		mk("aggr", ExchangeAggressive, "key-aggr", 2, true, "198.19.4.0/24", "198.19.3.0/24"),
		mk("ike2", ExchangeIKEv2, "key-ike2", 3, true, "198.19.6.0/24", "198.19.5.0/24"),
	})
	pr.a.SetPeers([]*PeerConfig{
		mk("main", ExchangeMain, "key-main", 1, false, "198.19.1.0/24", "198.19.2.0/24"),
		mk("aggr", ExchangeAggressive, "key-aggr", 2, false, "198.19.3.0/24", "198.19.4.0/24"),
		mk("ike2", ExchangeIKEv2, "key-ike2", 3, false, "198.19.5.0/24", "198.19.6.0/24"),
	})
	if !iketest.WaitFor(20*time.Second, func() bool { return len(pr.ka.all()) == 3 && len(pr.kb.all()) == 3 }) {
		t.Fatalf("children: A %d, B %d", len(pr.ka.all()), len(pr.kb.all()))
	}
	peers := map[string]bool{}
	for _, s := range pr.b.Snapshot() {
		peers[s.Peer] = true
	}
	if len(peers) != 3 {
		t.Fatalf("B's SAs belong to %v", peers)
	}
}
