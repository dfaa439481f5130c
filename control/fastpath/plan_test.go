package fastpath

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/dataplane"
)

// fakeKernel is the links, addresses and sysctls a plan test's engine reads.
type fakeKernel struct {
	mu    sync.Mutex
	links []netlink.Link
	// addrs are the IPv4 addresses LocalAddrs dumps (198.18.0.1 on ether1 unless a
	// test sets them), dumps how many times it did; updates is the channel of the
	// address events (AddrUpdates), when a test wants to send some.
	addrs   []LinkAddr
	dumps   int
	updates chan<- netlink.AddrUpdate
	// gate, when set, holds AddrUpdates until it closes (a subscription slow to come);
	// held says one is held there.
	gate chan struct{}
	held bool
}

func newFakeKernel() *fakeKernel {
	k := &fakeKernel{links: controltest.Links("ether1", "ether2")}
	for _, l := range k.links {
		l.Attrs().EncapType = "ether"
	}
	lo := k.links[0].Attrs()
	lo.Flags |= net.FlagLoopback
	lo.EncapType = "loopback"
	return k
}

// veth adds a veth end called name with the index and the peer's index (peerNS: the
// peer is in another namespace, as a test's veth has it).
func (k *fakeKernel) veth(name string, index, peer int, peerNS bool) {
	a := netlink.NewLinkAttrs()
	a.Name, a.Index, a.ParentIndex, a.Flags, a.EncapType = name, index, peer, net.FlagUp, "ether"
	a.HardwareAddr = net.HardwareAddr{2, 0, 0, 0, 1, byte(index)}
	if peerNS {
		a.NetNsID = 0
	}
	k.links = append(k.links, &netlink.Veth{LinkAttrs: a})
}

func (k *fakeKernel) remove(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.links = slices.DeleteFunc(k.links, func(l netlink.Link) bool { return l.Attrs().Name == name })
}

func (k *fakeKernel) LinkList() ([]netlink.Link, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.links), nil
}

func (k *fakeKernel) LocalAddrs() ([]LinkAddr, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dumps++
	if k.addrs == nil {
		return []LinkAddr{{2, netip.MustParseAddr("198.18.0.1")}}, nil
	}
	return slices.Clone(k.addrs), nil
}

func (k *fakeKernel) SourceChecks(skip func(string) bool) (map[int]uint32, error) {
	return map[int]uint32{2: 0, 3: 0}, nil
}

func (k *fakeKernel) Sysctl(name string) (string, error) {
	switch name {
	case tcpEstablished:
		return "432000", nil
	case udpStream:
		return "120", nil
	}
	return "", unix.ENOENT
}

func (k *fakeKernel) AddrUpdates(ch chan<- netlink.AddrUpdate, done <-chan struct{}, onErr func(error)) error {
	k.mu.Lock()
	g := k.gate
	k.held = g != nil
	k.mu.Unlock()
	if g != nil {
		<-g
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.held = false
	k.updates = ch
	return nil
}

// fakeDataplane keeps the fast path's maps and attachments as the dataplane would and
// records a write only where a call changes them, as the real setters write only what
// differs.
type fakeDataplane struct {
	mu       sync.Mutex
	cfg      string
	timeouts string
	espSteer string
	addrs    string
	checks   string
	ports    map[int]string // attached, with the forwarding role: ifindex -> name
	controltest.Recorder
}

var _ Dataplane = (*fakeDataplane)(nil)

func (d *fakeDataplane) FastTotals() (dataplane.FastStats, error) { return dataplane.FastStats{}, nil }
func (d *fakeDataplane) FastPortStats(int) (dataplane.FastStats, error) {
	return dataplane.FastStats{}, nil
}
func (d *fakeDataplane) Repin() (uint64, error) { return 0, nil }
func (d *fakeDataplane) FastTrackConns([]dataplane.FastTrackConn) (map[dataplane.FastTrackConn]dataplane.FastTrackCount, error) {
	return nil, nil
}

func (d *fakeDataplane) FastPorts() ([]int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Sorted(maps.Keys(d.ports)), nil
}

// set records w as the write that makes *cur hold w, unless it holds it already.
func (d *fakeDataplane) set(cur *string, w string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if *cur == w {
		return nil
	}
	if err := d.Write("%s", w); err != nil {
		return err
	}
	*cur = w
	return nil
}

func (d *fakeDataplane) SetFastPath(v4, v6, ft4, ft6 bool) error {
	return d.set(&d.cfg, fmt.Sprintf("fast-path v4=%t v6=%t fasttrack4=%t fasttrack6=%t", v4, v6, ft4, ft6))
}

func (d *fakeDataplane) SetESPSteer(allowed bool) error {
	return d.set(&d.espSteer, fmt.Sprintf("esp steer %t", allowed))
}

func (d *fakeDataplane) SetFastTrackTimeouts(tcp, udp time.Duration) error {
	return d.set(&d.timeouts, fmt.Sprintf("fasttrack timeouts tcp=%s udp=%s", tcp, udp))
}

func (d *fakeDataplane) SetLocalAddrs(addrs []netip.Addr) error {
	return d.set(&d.addrs, fmt.Sprintf("local addresses %v", addrs))
}

func (d *fakeDataplane) SetSourceChecks(modes map[int]uint32) error {
	return d.set(&d.checks, fmt.Sprintf("source checks %v", modes))
}

func (d *fakeDataplane) AddFastPort(ifindex int, ifname string, force dataplane.Hook) (dataplane.Hook, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.ports[ifindex]; !ok {
		if err := d.Write("attach %s", ifname); err != nil {
			return "", false, fmt.Errorf("attaching the port program to %s: %w", ifname, err)
		}
		d.ports[ifindex] = ifname
	}
	return dataplane.HookXDPNative, true, nil
}

func (d *fakeDataplane) RemoveFastPort(ifindex int, ifname string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.Write("detach %d %q", ifindex, ifname); err != nil {
		return err
	}
	delete(d.ports, ifindex)
	return nil
}

// firstPass is what the first pass of an engine with ether1 and ether2 as its ports
// writes besides the attachments.
var firstPass = []string{
	"local addresses [198.18.0.1]",
	"source checks map[2:0 3:0]",
	"fast-path v4=true v6=true fasttrack4=false fasttrack6=false",
	"esp steer true",
	"fasttrack timeouts tcp=120h0m0s udp=2m0s",
}

// TestPlan: the ports a pass attaches the port program to and the dataplane settings it
// writes, from a fake kernel's links; the next pass writes nothing, or redoes exactly
// what was undone behind routerd's back; a tunnel's link is never a port, whatever the
// configuration says of the tunnel (QA: mid-creation and mid-removal it was taken for
// one); a refused attachment fails the pass and the port says why.
func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(k *fakeKernel)
		cmds     []string
		fail     map[string]error
		want     []string                              // after firstPass
		espSteer string                                // the write instead of firstPass's esp steer
		after    func(k *fakeKernel, d *fakeDataplane) // behind routerd's back
		again    []string
		errWant  string // the first pass's error
		errAgain string // the second pass's error (then a third pass, failing nothing, writes third)
		third    []string
		props    map[string]string // ether1's props in /interface print
	}{{
		name:  "the Ethernet ports get the port program; a second pass writes nothing",
		want:  []string{"attach ether1", "attach ether2"},
		props: map[string]string{"fast-path": "yes"},
	}, {
		name: "a tunnel's link is no port, its item in the configuration or not",
		setup: func(k *fakeKernel) {
			k.veth("w3g4", 7, 8, false) // the tunnel's interface; no item names it (being removed, or not yet stored)
			k.veth("rtgre8", 8, 7, false)
		},
		want: []string{"attach ether1", "attach ether2"},
	}, {
		name:  "a veth whose peer is gone is a pair being deleted: no port",
		setup: func(k *fakeKernel) { k.veth("w3g4", 7, 8, false) },
		want:  []string{"attach ether1", "attach ether2"},
	}, {
		name:  "a veth with its peer in another namespace is a port",
		setup: func(k *fakeKernel) { k.veth("ether3", 7, 2, true) },
		want:  []string{"attach ether1", "attach ether2", "attach ether3"},
	}, {
		name: "an attachment removed behind routerd's back is made again",
		want: []string{"attach ether1", "attach ether2"},
		after: func(k *fakeKernel, d *fakeDataplane) {
			d.mu.Lock()
			delete(d.ports, 2)
			d.mu.Unlock()
		},
		again: []string{"attach ether1"},
	}, {
		name:  "a port that goes loses the fast path",
		want:  []string{"attach ether1", "attach ether2"},
		after: func(k *fakeKernel, d *fakeDataplane) { k.remove("ether2") },
		again: []string{`detach 3 ""`},
	}, {
		name:     "a refused detach of a port that went fails the pass and is tried again",
		fail:     map[string]error{`detach 3 ""`: unix.EBUSY},
		want:     []string{"attach ether1", "attach ether2"},
		after:    func(k *fakeKernel, d *fakeDataplane) { k.remove("ether2") },
		again:    []string{`detach 3 "" (failed)`},
		errAgain: "ifindex 3: taking the fast path off: device or resource busy",
		third:    []string{`detach 3 ""`},
	}, {
		name:  "a tunnel's pair made after the first pass is not attached",
		want:  []string{"attach ether1", "attach ether2"},
		after: func(k *fakeKernel, d *fakeDataplane) { k.veth("rtgre9", 9, 10, false); k.veth("w3g4", 10, 9, false) },
	}, {
		name:    "a refused attachment fails the pass, the port says why and it is tried again",
		fail:    map[string]error{"attach ether1": unix.EPERM},
		want:    []string{"attach ether1 (failed)", "attach ether2"},
		again:   []string{"attach ether1 (failed)"},
		errWant: "ether1: attaching the port program to ether1: operation not permitted",
		props:   map[string]string{"fast-path": "no", "fast-path-status": "attaching the port program to ether1: operation not permitted"},
	}, {
		name: "a firewall rule turns IPv4's fast path off",
		cmds: []string{"/ip/firewall/filter add chain=forward action=accept"},
		want: []string{"attach ether1", "attach ether2"},
	}, {
		// Raw ESP steering stays off for a rule that could see inbound ESP, on for one
		// that cannot (above), whatever the fast path does.
		name:     "an input rule keeps inbound raw ESP on the stack's path",
		cmds:     []string{"/ip/firewall/filter add chain=input action=accept"},
		want:     []string{"attach ether1", "attach ether2"},
		espSteer: "esp steer false",
	}, {
		name:     "a rule in a chain of its own keeps inbound raw ESP on the stack's path",
		cmds:     []string{"/ip/firewall/mangle add chain=mine action=accept"},
		want:     []string{"attach ether1", "attach ether2"},
		espSteer: "esp steer false",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			k, d := newFakeKernel(), &fakeDataplane{ports: map[int]string{}}
			if tc.setup != nil {
				tc.setup(k)
			}
			ex := controltest.New(t)
			for _, c := range tc.cmds {
				controltest.Exec(t, ex, c)
			}
			e := New()
			e.k, e.dp = k, d
			h, _ := engine.Standalone(ex, e.Spec())
			if err := e.Start(context.Background(), h); err != nil {
				t.Fatal(err)
			}
			d.Fail = tc.fail
			err := e.Reconcile(context.Background())
			switch {
			case tc.errWant == "" && err != nil:
				t.Fatalf("first pass: %v", err)
			case tc.errWant != "" && (err == nil || err.Error() != tc.errWant):
				t.Fatalf("first pass failed with %v, want %q", err, tc.errWant)
			}
			want := slices.Clone(firstPass)
			if len(tc.cmds) > 0 {
				want[2] = "fast-path v4=false v6=true fasttrack4=false fasttrack6=false"
				if tc.espSteer != "" {
					want[3] = tc.espSteer
				}
			}
			if got := d.Take(); !slices.Equal(got, append(want, tc.want...)) {
				t.Errorf("first pass wrote\n  %q\nwant\n  %q", got, append(want, tc.want...))
			}
			if tc.props != nil {
				if got := e.linkProps("ether1"); !maps.Equal(got, tc.props) {
					t.Errorf("ether1's props %v, want %v", got, tc.props)
				}
			}
			if tc.after != nil {
				tc.after(k, d)
			}
			err = e.Reconcile(context.Background())
			switch {
			case tc.errAgain != "":
				if err == nil || err.Error() != tc.errAgain {
					t.Errorf("second pass failed with %v, want %q", err, tc.errAgain)
				}
			case (err != nil) != (tc.errWant != ""):
				t.Errorf("second pass: %v", err)
			}
			if got := d.Take(); !slices.Equal(got, tc.again) {
				t.Errorf("second pass wrote\n  %q\nwant\n  %q", got, tc.again)
			}
			if tc.third != nil {
				d.Fail = nil
				if err := e.Reconcile(context.Background()); err != nil {
					t.Errorf("third pass: %v", err)
				}
				if got := d.Take(); !slices.Equal(got, tc.third) {
					t.Errorf("third pass wrote\n  %q\nwant\n  %q", got, tc.third)
				}
			}
			for _, p := range e.Ports() {
				if n := strings.Fields(p)[0]; n == "w3g4" || strings.HasPrefix(n, "rtgre") {
					t.Errorf("a tunnel's link is a port: %s", p)
				}
			}
		})
	}
}

// TestLocalAddrsFollowEvents: the set of our addresses is dumped by the first pass and
// then kept by the address events, one write per burst, with no dump per burst or per
// resync (an import of 10,000 addresses dumped them all per burst); a subscription that
// ends (the library closes its channel when the socket overflowed) lost events, so the
// next pass dumps again, and the events are followed on a new subscription.
func TestLocalAddrsFollowEvents(t *testing.T) {
	k, d := newFakeKernel(), &fakeDataplane{ports: map[int]string{}}
	ex := controltest.New(t)
	e := New()
	e.k, e.dp = k, d
	h, wait := engine.Standalone(ex, e.Spec())
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wait() }()
	if err := e.Start(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := e.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	d.Take()
	updates := func() chan<- netlink.AddrUpdate {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.updates
	}
	event := func(ch chan<- netlink.AddrUpdate, ip string, index int, add bool) {
		ch <- netlink.AddrUpdate{LinkAddress: net.IPNet{IP: net.ParseIP(ip).To4(), Mask: net.CIDRMask(24, 32)},
			LinkIndex: index, NewAddr: add}
	}
	waitAddrs := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			d.mu.Lock()
			got := d.addrs
			d.mu.Unlock()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("local addresses %q, want %q", got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	dumps := func() int {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.dumps
	}
	if n := dumps(); n != 1 {
		t.Fatalf("first pass dumped the addresses %d times, want 1", n)
	}
	ch := updates()
	event(ch, "198.18.1.1", 3, true)
	event(ch, "198.18.2.1", 3, true)
	event(ch, "198.18.0.1", 3, true) // one address on two links
	event(ch, "198.18.0.1", 2, false)
	waitAddrs("local addresses [198.18.0.1 198.18.1.1 198.18.2.1]")
	event(ch, "198.18.2.1", 3, false)
	waitAddrs("local addresses [198.18.0.1 198.18.1.1]")
	if err := e.Reconcile(ctx); err != nil { // a resync
		t.Fatal(err)
	}
	if n := dumps(); n != 1 {
		t.Errorf("events and a resync dumped the addresses %d times, want only the first pass's", n)
	}

	// The subscription ends: the next pass dumps, and the new one is followed.
	k.mu.Lock()
	k.addrs = []LinkAddr{{2, netip.MustParseAddr("198.18.7.1")}}
	k.mu.Unlock()
	close(ch)
	deadline := time.Now().Add(10 * time.Second)
	for updates() == ch {
		if time.Now().After(deadline) {
			t.Fatal("no new subscription after the channel closed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !h.Kicked() {
		t.Error("a lost subscription asked for no pass")
	}
	if err := e.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	waitAddrs("local addresses [198.18.7.1]")
	if n := dumps(); n != 2 {
		t.Errorf("%d dumps after the subscription ended, want 2", n)
	}
	event(updates(), "198.18.8.1", 2, true)
	waitAddrs("local addresses [198.18.7.1 198.18.8.1]")
}

// TestLocalAddrsResubscribeWindow: after the address subscription ended, a pass that
// dumps the addresses before the new subscription is there cannot be the last dump: an
// address added between that dump and the new subscription sends no event the engine
// reads. The engine drops the set once the new subscription is there and asks for a
// pass, which dumps again. Without that the address is never in the set (checked: "no
// pass asked for once the new subscription was there", "after the new subscription:
// \"local addresses [198.18.0.1]\"").
func TestLocalAddrsResubscribeWindow(t *testing.T) {
	k, d := newFakeKernel(), &fakeDataplane{ports: map[int]string{}}
	ex := controltest.New(t)
	e := New()
	e.k, e.dp = k, d
	h, wait := engine.Standalone(ex, e.Spec())
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wait() }()
	if err := e.Start(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := e.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	locked := func(fn func()) { k.mu.Lock(); fn(); k.mu.Unlock() }
	var ch chan<- netlink.AddrUpdate
	gate := make(chan struct{})
	locked(func() { ch, k.gate = k.updates, gate })
	close(ch) // the library ends the subscription
	until("the engine is not subscribing again", func() (held bool) { locked(func() { held = k.held }); return })
	if !h.Kicked() {
		t.Error("a lost subscription asked for no pass")
	}
	// The pass the loss asked for runs before the new subscription is there.
	if err := e.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	// Added in between: no subscription sees it.
	locked(func() {
		k.addrs = []LinkAddr{{2, netip.MustParseAddr("198.18.0.1")}, {3, netip.MustParseAddr("198.18.9.1")}}
		k.gate = nil
	})
	close(gate)
	until("no new subscription", func() (ok bool) { locked(func() { ok = k.updates != ch && k.updates != nil }); return })
	kicked := false
	for deadline := time.Now().Add(10 * time.Second); !kicked && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		kicked = h.Kicked()
	}
	if !kicked {
		t.Error("no pass asked for once the new subscription was there")
	}
	if err := e.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	got := d.addrs
	d.mu.Unlock()
	if want := "local addresses [198.18.0.1 198.18.9.1]"; got != want {
		t.Errorf("after the new subscription: %q, want %q", got, want)
	}
	// Followed from then on.
	locked(func() { ch = k.updates })
	ch <- netlink.AddrUpdate{LinkAddress: net.IPNet{IP: net.ParseIP("198.18.10.1").To4(), Mask: net.CIDRMask(24, 32)},
		LinkIndex: 3, NewAddr: true}
	until("the new subscription's event is not followed", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.addrs == "local addresses [198.18.0.1 198.18.9.1 198.18.10.1]"
	})
}
