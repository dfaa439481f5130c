package fastpath

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/tools/trafficgen"
)

// TestDecapForwardRig: UDP in GRE and in a routed EoIP tunnel (an address on eoip1, the
// inner frame addressed to eoip1) from the source to the router, whose inner destination
// is the sink: routerd decapsulates and forwards it in one XDP pass. The sink receives
// it, the fast path counts it, and the kernel's forwarded-datagram count stays (the
// stack never saw the packet). Once eoip1 is a bridge port, its frames are the
// bridge's: the kernel receives them through the bridge and forwards them, the fast path
// does not.
func TestDecapForwardRig(t *testing.T) {
	need(t)
	r := newRig(t)
	r.active(t)
	// The sink counts and drops in XDP, ARP included: the router keeps its address.
	var sink *trafficgen.Sink
	inNS(t, r.snk, func() {
		ifc, err := net.InterfaceByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		run(t, "ip", "-n", r.rtr, "neigh", "replace", "198.18.61.2", "lladdr", ifc.HardwareAddr.String(), "dev", "ether2", "nud", "permanent")
		if sink, err = trafficgen.OpenSink(ifc.Index); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { sink.Close() })
	var srcMAC net.HardwareAddr
	srcIdx := 0
	inNS(t, r.src, func() {
		ifc, _ := net.InterfaceByName("eth0")
		srcMAC, srcIdx = ifc.HardwareAddr, ifc.Index
	})
	// linkMAC waits for the link: the tunnel engine creates it after the command
	// returns, later still on a loaded machine.
	linkMAC := func(ns, dev string) net.HardwareAddr {
		t.Helper()
		var out []byte
		var err error
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			out, err = in(ns, "ip", "-o", "link", "show", dev).CombinedOutput()
			if err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || !strings.Contains(string(out), "link/ether") {
			t.Fatalf("ip -n %s link show %s: %v\n%s", ns, dev, err, out)
		}
		s := string(out)
		m, _ := net.ParseMAC(strings.Fields(s[strings.Index(s, "link/ether"):])[1])
		return m
	}
	// forwarded is the kernel's count of the datagrams it forwarded (Ip ForwDatagrams).
	forwarded := func() uint64 {
		out, _ := in(r.rtr, "cat", "/proc/net/snmp").CombinedOutput()
		var head []string
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			if len(f) == 0 || f[0] != "Ip:" {
				continue
			}
			if head == nil {
				head = f
				continue
			}
			for i, h := range head {
				if h == "ForwDatagrams" && i < len(f) {
					n, _ := strconv.ParseUint(f[i], 10, 64)
					return n
				}
			}
		}
		t.Fatalf("no ForwDatagrams in /proc/net/snmp:\n%s", out)
		return 0
	}
	const n = 64
	// send sends n frames of o and reports what the sink, the fast path and the kernel's
	// forwarding counted meanwhile.
	send := func(o trafficgen.Options) (sunk, fast, kern uint64) {
		t.Helper()
		o.SrcMAC, o.DstMAC = srcMAC, linkMAC(r.rtr, "ether1")
		o.Size, o.Flows = 128, 4
		o.Src, o.Dst = netip.MustParseAddr("198.18.70.2"), netip.MustParseAddr("198.18.61.2")
		o.OuterSrc, o.OuterDst = netip.MustParseAddr("198.18.60.2"), netip.MustParseAddr("198.18.60.1")
		s0, f0, k0 := sink.Count(), r.counter("ipv4-fast-path-packets"), forwarded()
		inNS(t, r.src, func() {
			f, err := trafficgen.Build(o)
			if err != nil {
				t.Fatal(err)
			}
			g, err := trafficgen.Open(f, o.Flows, srcIdx, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			// One frame at a time: a burst would overrun the veth queues.
			for i := 0; i < n; i++ {
				if _, err := g.Run(1); err != nil {
					t.Fatal(err)
				}
			}
		})
		// Until all arrived, or nothing more for 300 ms.
		s1, at := sink.Count(), time.Now()
		for s1-s0 < n && time.Since(at) < 300*time.Millisecond {
			time.Sleep(20 * time.Millisecond)
			if c := sink.Count(); c != s1 {
				s1, at = c, time.Now()
			}
		}
		return s1 - s0, r.counter("ipv4-fast-path-packets") - f0, forwarded() - k0
	}

	r.must("/interface gre add name=gre1 local-address=198.18.60.1 remote-address=198.18.60.2")
	r.must("/interface eoip add name=eoip1 local-address=198.18.60.1 remote-address=198.18.60.2 tunnel-id=5")
	r.must("/ip address add address=198.18.71.1/24 interface=eoip1")
	eoipMAC := func() net.HardwareAddr { return linkMAC(r.rtr, "eoip1") }
	for _, tc := range []struct {
		name string
		o    trafficgen.Options
	}{
		{"GRE", trafficgen.Options{Proto: "gre"}},
		{"routed EoIP", trafficgen.Options{Proto: "eoip", TunnelID: 5, InnerDstMAC: eoipMAC()}},
	} {
		eventually(t, tc.name+" decapsulated and forwarded in one pass", func() (bool, string) {
			sunk, fast, kern := send(tc.o)
			return sunk >= n*9/10 && fast >= sunk && kern == 0,
				"sink " + strconv.FormatUint(sunk, 10) + " fast path " + strconv.FormatUint(fast, 10) + " kernel forwarded " + strconv.FormatUint(kern, 10)
		})
	}

	// Bridged: the frames go to the bridge through eoip1, not the fast path.
	r.must("/interface bridge add name=br1 protocol-mode=none")
	r.must("/interface bridge port add bridge=br1 interface=eoip1")
	eventually(t, "bridged EoIP left to the bridge", func() (bool, string) {
		sunk, fast, kern := send(trafficgen.Options{Proto: "eoip", TunnelID: 5, InnerDstMAC: eoipMAC()})
		return fast == 0 && kern >= n*9/10 && sunk >= n*9/10,
			"sink " + strconv.FormatUint(sunk, 10) + " fast path " + strconv.FormatUint(fast, 10) + " kernel forwarded " + strconv.FormatUint(kern, 10)
	})
}
