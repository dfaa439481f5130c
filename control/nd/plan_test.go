package nd

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/link"
)

// solicitation is a message the fake's socket receives.
type solicitation struct {
	msg      []byte
	ifindex  int
	hopLimit int
	from     netip.Addr
}

// fakeKernel is in-memory interfaces and a raw ICMPv6 socket for the engine's plan: the
// joins, leaves and sends are recorded (controltest.Recorder; a write named in Fail is
// refused), each advertisement written as what it says (summary); solicitations given
// to in are what Receive reads.
type fakeKernel struct {
	mu  sync.Mutex
	ifs []net.Interface
	in  chan solicitation
	controltest.Recorder
}

func newFakeKernel() *fakeKernel {
	k := &fakeKernel{in: make(chan solicitation, 8)}
	for _, l := range controltest.Links("ether1", "ether2") {
		a := l.Attrs()
		k.ifs = append(k.ifs, net.Interface{Index: a.Index, Name: a.Name, HardwareAddr: a.HardwareAddr, MTU: 1500, Flags: a.Flags})
	}
	return k
}

var _ Kernel = (*fakeKernel)(nil)

func (k *fakeKernel) name(index int) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, i := range k.ifs {
		if i.Index == index {
			return i.Name
		}
	}
	return fmt.Sprint(index)
}

func (k *fakeKernel) Interface(name string) (*net.Interface, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, i := range k.ifs {
		if i.Name == name {
			return &i, nil
		}
	}
	return nil, unix.ENODEV
}

func (k *fakeKernel) Receive(b []byte, deadline time.Time) (int, int, int, netip.Addr, error) {
	// Sooner than the deadline: the reader sees its context end at once.
	t := time.NewTimer(min(time.Until(deadline), 20*time.Millisecond))
	defer t.Stop()
	select {
	case s := <-k.in:
		return copy(b, s.msg), s.ifindex, s.hopLimit, s.from, nil
	case <-t.C:
		return 0, 0, 0, netip.Addr{}, unix.EAGAIN
	}
}

func (k *fakeKernel) JoinAllRouters(ifi *net.Interface) error { return k.Write("join %s", ifi.Name) }
func (k *fakeKernel) LeaveAllRouters(ifindex int) error       { return k.Write("leave %s", k.name(ifindex)) }
func (k *fakeKernel) Send(msg []byte, ifi *net.Interface, to netip.Addr) error {
	return k.Write("send %s %s %s", ifi.Name, to, summary(msg))
}
func (k *fakeKernel) Close() error { return nil }

// summary writes an advertisement as what it says: "ra lifetime 1800 prefix
// 2001:db8:1::/64 LA valid 2592000 pref 604800 slla 02:00:00:00:00:02", fields at their
// defaults (0, medium, absent) left out.
func summary(b []byte) string {
	if len(b) < 16 || b[0] != typeRA {
		return fmt.Sprintf("not an advertisement %x", b)
	}
	w := fmt.Sprintf("ra lifetime %d", binary.BigEndian.Uint16(b[6:]))
	if b[4] != 0 {
		w += fmt.Sprintf(" hop %d", b[4])
	}
	if b[5]&0x80 != 0 {
		w += " M"
	}
	if b[5]&0x40 != 0 {
		w += " O"
	}
	if p := b[5] >> 3 & 3; p != 0 {
		w += " pref " + map[byte]string{1: "high", 3: "low", 2: "reserved"}[p]
	}
	if r := binary.BigEndian.Uint32(b[8:]); r != 0 {
		w += fmt.Sprintf(" reachable %dms", r)
	}
	if r := binary.BigEndian.Uint32(b[12:]); r != 0 {
		w += fmt.Sprintf(" retrans %dms", r)
	}
	for o := b[16:]; len(o) >= 8; o = o[int(o[1])*8:] {
		if o[1] == 0 || int(o[1])*8 > len(o) {
			return w + fmt.Sprintf(" bad option %x", o)
		}
		switch o[0] {
		case optSLLA:
			w += " slla " + net.HardwareAddr(o[2:8]).String()
		case optMTU:
			w += fmt.Sprintf(" mtu %d", binary.BigEndian.Uint32(o[4:]))
		case optPrefix:
			pf := netip.PrefixFrom(netip.AddrFrom16([16]byte(o[16:32])), int(o[2]))
			flags := ""
			if o[3]&0x80 != 0 {
				flags += "L"
			}
			if o[3]&0x40 != 0 {
				flags += "A"
			}
			w += fmt.Sprintf(" prefix %s %s valid %d pref %d", pf, flags, binary.BigEndian.Uint32(o[4:]), binary.BigEndian.Uint32(o[8:]))
		case optRDNSS:
			var as []string
			for a := o[8 : int(o[1])*8]; len(a) >= 16; a = a[16:] {
				as = append(as, netip.AddrFrom16([16]byte(a[:16])).String())
			}
			w += fmt.Sprintf(" rdnss %s life %d", strings.Join(as, ","), binary.BigEndian.Uint32(o[4:]))
		default:
			w += fmt.Sprintf(" option %d", o[0])
		}
	}
	return w
}

// start runs the engine against k as Start does, without the sender's ticker: the test
// sends what is due itself, at the engine's fixed clock.
func start(t *testing.T, k *fakeKernel, now time.Time) (*Engine, *control.Executor) {
	t.Helper()
	ex := controltest.New(t)
	ex.ProvideNames(link.IfacePath, func(name string) bool { return name != "ether9" })
	e := New()
	e.k, e.now = k, func() time.Time { return now }
	if err := e.open(ex); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.read(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e, ex
}

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// The advertisement of ether1 from the default item (interface=all) for
// 2001:db8:1::1/64 with advertise=yes: RouterOS's defaults, the dynamic prefix with
// /ipv6 nd prefix default's lifetimes, the source link-layer address.
const (
	addr1 = "/ipv6/address add address=2001:db8:1::1/64 interface=ether1 advertise=yes"
	ra1   = "ra lifetime 1800 slla 02:00:00:00:00:02 prefix 2001:db8:1::/64 LA valid 2592000 pref 604800"
)

// TestPlan: the configured advertisements over the fake's interfaces give exactly the
// planned joins of ff02::2 and, when due, the planned advertisements; the next pass
// joins nothing again (or retries exactly what failed) and nothing is sent before the
// interval; a refused join leaves the item saying why.
func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cmds   []string
		fail   map[string]error
		want   []string // the first pass
		sends  []string // due at t0, after the first pass
		cmds2  []string // between the passes
		again  []string // the second pass
		sends2 []string // due at t0+interval, after the second pass
		states map[string]string
	}{{
		name:   "the default item: an interface with an advertised address",
		cmds:   []string{addr1},
		want:   []string{"join ether1"},
		sends:  []string{"send ether1 ff02::1 " + ra1},
		sends2: []string{"send ether1 ff02::1 " + ra1},
		states: map[string]string{"all": ""},
	}, {
		name:   "an address with advertise=no: advertisements without its prefix",
		cmds:   []string{strings.Replace(addr1, "advertise=yes", "advertise=no", 1)},
		want:   []string{"join ether1"},
		sends:  []string{"send ether1 ff02::1 ra lifetime 1800 slla 02:00:00:00:00:02"},
		sends2: []string{"send ether1 ff02::1 ra lifetime 1800 slla 02:00:00:00:00:02"},
	}, {
		name: "an item of its own, with /ip dns's IPv6 servers and a static prefix",
		cmds: []string{addr1, "/ip/dns set servers=198.18.0.53,2001:db8::53",
			"/ipv6/nd add interface=ether2 ra-interval=10s-20s mtu=1400 managed-address-configuration=yes other-configuration=yes hop-limit=64 ra-preference=high advertise-mac-address=no ra-lifetime=10m reachable-time=30s",
			"/ipv6/nd/prefix add prefix=2001:db8:2::/64 interface=ether2 autonomous=no valid-lifetime=1d preferred-lifetime=1h"},
		want: []string{"join ether1", "join ether2"},
		sends: []string{"send ether1 ff02::1 " + ra1 + " rdnss 2001:db8::53 life 1800",
			"send ether2 ff02::1 ra lifetime 600 hop 64 M O pref high reachable 30000ms mtu 1400 prefix 2001:db8:2::/64 L valid 86400 pref 3600 rdnss 2001:db8::53 life 60"},
		sends2: []string{"send ether1 ff02::1 " + ra1 + " rdnss 2001:db8::53 life 1800",
			"send ether2 ff02::1 ra lifetime 600 hop 64 M O pref high reachable 30000ms mtu 1400 prefix 2001:db8:2::/64 L valid 86400 pref 3600 rdnss 2001:db8::53 life 60"},
	}, {
		name:   "the address removed: ff02::2 left, nothing sent any more",
		cmds:   []string{addr1},
		want:   []string{"join ether1"},
		sends:  []string{"send ether1 ff02::1 " + ra1},
		cmds2:  []string{"/ipv6/address remove 0"},
		again:  []string{"leave ether1"},
		sends2: nil,
	}, {
		name:   "disabled: the interface is left",
		cmds:   []string{"/ipv6/nd add interface=ether2"},
		want:   []string{"join ether2"},
		sends:  []string{"send ether2 ff02::1 ra lifetime 1800 slla 02:00:00:00:00:03"},
		cmds2:  []string{"/ipv6/nd set 1 disabled=yes"},
		again:  []string{"leave ether2"},
		sends2: nil,
	}, {
		name:   "the kernel refuses the join: advertisements still go, the item says why, joined next pass",
		cmds:   []string{addr1},
		fail:   map[string]error{"join ether1": unix.ENOBUFS},
		want:   []string{"join ether1 (failed)"},
		sends:  []string{"send ether1 ff02::1 " + ra1},
		again:  []string{"join ether1 (failed)"},
		sends2: []string{"send ether1 ff02::1 " + ra1},
		states: map[string]string{"all": "status: not answering router solicitations on ether1: no buffer space available"},
	}, {
		name:   "no such interface in the kernel: invalid, nothing joined or sent",
		cmds:   []string{"/ipv6/nd add interface=ether9"},
		states: map[string]string{"ether9": "invalid: no interface ether9"},
	}, {
		name:   "a bad ra-interval: invalid with the reason",
		cmds:   []string{"/ipv6/nd add interface=ether2 ra-interval=1s-2s"},
		states: map[string]string{"ether2": "invalid: ra-interval: want min-max within 3s..30m, min <= max"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKernel()
			e, ex := start(t, k, t0)
			for _, c := range tc.cmds {
				controltest.Exec(t, ex, c)
			}
			k.Fail = tc.fail
			pass := func(what string, want []string) {
				t.Helper()
				if err := e.Reconcile(context.Background()); err != nil {
					t.Fatal(err)
				}
				if got := k.Take(); !slices.Equal(got, want) {
					t.Errorf("%s wrote\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
				}
			}
			sendDue := func(at time.Time, what string, want []string) {
				t.Helper()
				e.sendDue(at)
				if got := k.Take(); !slices.Equal(got, want) {
					t.Errorf("%s sent\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
				}
			}
			pass("the first pass", tc.want)
			sendDue(t0, "at once", tc.sends)
			sendDue(t0.Add(time.Second), "a second later", nil)
			for _, c := range tc.cmds2 {
				controltest.Exec(t, ex, c)
			}
			pass("the second pass", tc.again)
			sendDue(t0.Add(10*time.Minute), "ra-interval's max later", tc.sends2)
			for name, want := range tc.states {
				st := controltest.State(t, ex, Path, "interface", name)
				got := "applied"
				switch {
				case st.Invalid:
					got = "invalid: " + st.Status
				case st.Status != "":
					got = "status: " + st.Status
				}
				if want == "" {
					want = "applied"
				}
				if got != want {
					t.Errorf("%s: %s, want %s", name, got, want)
				}
			}
		})
	}
}

// TestSolicitations: a router solicitation with hop limit 255 on an interface that
// advertises is answered to its source (to all nodes from ::); one with another hop
// limit, a malformed one, or one on an interface that does not advertise, is not.
func TestSolicitations(t *testing.T) {
	k := newFakeKernel()
	e, ex := start(t, k, t0)
	controltest.Exec(t, ex, addr1)
	if err := e.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	k.Take()
	rs := []byte{typeRS, 0, 0, 0, 0, 0, 0, 0}
	host := netip.MustParseAddr("fe80::9")
	for _, s := range []solicitation{
		{rs, 2, 64, host},                    // hop limit: off-link, dropped
		{[]byte{typeRS, 0, 0}, 2, 255, host}, // too short
		{append(rs, 1, 0), 2, 255, host},     // an option of length 0
		{append(rs, 1, 1, 2, 0, 0, 0, 0, 9), 2, 255, netip.IPv6Unspecified()}, // SLLA from ::
		{rs, 3, 255, host},                    // ether2 does not advertise
		{rs, 2, 255, netip.IPv6Unspecified()}, // answered to all nodes
		{rs, 2, 255, host},                    // answered to its source
	} {
		k.in <- s
	}
	want := []string{"send ether1 ff02::1 " + ra1, "send ether1 fe80::9 " + ra1}
	var got []string
	for deadline := time.Now().Add(10 * time.Second); len(got) < len(want) && time.Now().Before(deadline); {
		got = append(got, k.Take()...)
		time.Sleep(10 * time.Millisecond)
	}
	if !slices.Equal(got, want) {
		t.Errorf("answered\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if n := e.Sent("ether1"); n != 2 {
		t.Errorf("Sent(ether1) = %d, want 2", n)
	}
}
