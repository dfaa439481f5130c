package ipcfg

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// check-gateway as RouterOS does it: every gateway of a route with check-gateway=ping
// (an ICMP echo to the gateway, through the next hop the route resolved to) or =arp (an
// ARP request for the next hop on its interface) is checked every 10 seconds with a
// 1-second timeout (RouterOS 7's /routing settings check-gateway-ping-interval and
// -timeout defaults); after two checks in a row fail the gateway is unreachable and
// its routes inactive, and one answer makes it reachable again.
const (
	checkInterval = 10 * time.Second
	checkTimeout  = time.Second
	checkFailures = 2
)

// gwKey is one gateway check.
type gwKey struct {
	kind string     // ping or arp
	addr netip.Addr // pinged: the gateway; arp: the next hop
	link int        // interface the check leaves by (0: as routed)
	src  netip.Addr // arp: the address of ours on link the request comes from
}

type gwState struct {
	fails int
	down  bool
}

// gwChecker runs the checks the last pass asked for and kicks the engine when a
// gateway's reachability changes; passes read the result (down).
type gwChecker struct {
	mu     sync.Mutex
	state  map[gwKey]*gwState
	want   map[int]map[gwKey]bool                  // per family, from the last pass
	probe  func(ctx context.Context, k gwKey) bool // the real checks unless a test set one
	period time.Duration
}

func newGwChecker() *gwChecker {
	return &gwChecker{state: map[gwKey]*gwState{}, want: map[int]map[gwKey]bool{},
		probe: probeGateway, period: checkInterval}
}

// down reports whether check k found its gateway dead; a gateway not checked yet is
// reachable, as RouterOS takes it.
func (c *gwChecker) down(k gwKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.state[k]
	return s != nil && s.down
}

// setTargets records the checks a pass of family v needs; checks no family needs are
// forgotten.
func (c *gwChecker) setTargets(v int, keys map[gwKey]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want[v] = keys
	// A new gateway's first check is a period from now, as every other's.
	for k := range keys {
		if c.state[k] == nil {
			c.state[k] = &gwState{}
		}
	}
	for k := range c.state {
		if !c.want[4][k] && !c.want[6][k] {
			delete(c.state, k)
		}
	}
}

func (c *gwChecker) targets() []gwKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]gwKey, 0, len(c.state))
	for k := range c.state {
		out = append(out, k)
	}
	return out
}

// record takes one check's result and reports whether the gateway's state changed.
func (c *gwChecker) record(k gwKey, ok bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.state[k]
	if s == nil {
		return false
	}
	if ok {
		s.fails = 0
		if s.down {
			s.down = false
			return true
		}
		return false
	}
	s.fails++
	if s.fails >= checkFailures && !s.down {
		s.down = true
		return true
	}
	return false
}

// run checks every gateway each period (each check in a goroutine of goFn, the engine
// handle's) and calls kick when one changed, until ctx ends.
func (c *gwChecker) run(ctx context.Context, goFn func(context.Context, func(context.Context)), kick func()) {
	t := time.NewTicker(c.period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		keys := c.targets()
		var wg sync.WaitGroup
		results := make([]bool, len(keys))
		for i, k := range keys {
			wg.Add(1)
			goFn(ctx, func(ctx context.Context) {
				defer wg.Done()
				results[i] = c.probe(ctx, k)
			})
		}
		wg.Wait()
		changed := false
		for i, k := range keys {
			if c.record(k, results[i]) {
				changed = true
			}
		}
		if changed {
			kick()
		}
	}
}

// probeGateway runs one check.
func probeGateway(ctx context.Context, k gwKey) bool {
	if k.kind == "arp" {
		return arpProbe(k.addr, k.src, k.link)
	}
	return pingProbe(ctx, k.addr, k.link)
}

// pingProbe sends one ICMP echo request to addr (out of link when given) and reports
// whether the reply came within the timeout.
func pingProbe(ctx context.Context, addr netip.Addr, link int) bool {
	network, laddr, proto := "ip4:icmp", "0.0.0.0", 1
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if addr.Is6() {
		network, laddr, proto, typ = "ip6:ipv6-icmp", "::", 58, ipv6.ICMPTypeEchoRequest
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if link != 0 {
			rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX, link) })
		}
		return serr
	}}
	pc, err := lc.ListenPacket(ctx, network, laddr)
	if err != nil {
		return false
	}
	defer pc.Close()
	id, seq := rand.IntN(0xffff), rand.IntN(0xffff)
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("routerd check-gateway")}}
	wb, err := msg.Marshal(nil)
	if err != nil {
		return false
	}
	if _, err := pc.WriteTo(wb, &net.IPAddr{IP: addr.AsSlice(), Zone: addr.Zone()}); err != nil {
		return false
	}
	pc.SetReadDeadline(time.Now().Add(checkTimeout))
	rb := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(rb)
		if err != nil {
			return false
		}
		m, err := icmp.ParseMessage(proto, rb[:n])
		if err != nil {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		if ok && echo.ID == id && echo.Seq == seq && (m.Type == ipv4.ICMPTypeEchoReply || m.Type == ipv6.ICMPTypeEchoReply) {
			if fa, ok := from.(*net.IPAddr); ok {
				if a, ok := netip.AddrFromSlice(fa.IP); ok && a.Unmap() == addr.WithZone("") {
					return true
				}
			}
		}
	}
}

// arpProbe sends an ARP request for addr from src on link and reports whether addr
// answered within the timeout.
func arpProbe(addr, src netip.Addr, link int) bool {
	if !addr.Is4() || !src.Is4() || link == 0 {
		return false
	}
	ifi, err := net.InterfaceByIndex(link)
	if err != nil || len(ifi.HardwareAddr) != 6 {
		return false
	}
	proto := htons(unix.ETH_P_ARP)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: link}); err != nil {
		return false
	}
	req := make([]byte, 28)
	binary.BigEndian.PutUint16(req[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(req[2:], 0x0800) // IPv4
	req[4], req[5] = 6, 4
	binary.BigEndian.PutUint16(req[6:], 1) // request
	copy(req[8:], ifi.HardwareAddr)
	s4, a4 := src.As4(), addr.As4()
	copy(req[14:], s4[:])
	copy(req[24:], a4[:])
	bcast := &unix.SockaddrLinklayer{Protocol: proto, Ifindex: link, Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if err := unix.Sendto(fd, req, 0, bcast); err != nil {
		return false
	}
	deadline := time.Now().Add(checkTimeout)
	rb := make([]byte, 128)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			// Without the timeout Recvfrom would wait for a reply forever: the check
			// would never end. A probe that cannot be bounded fails.
			return false
		}
		n, _, err := unix.Recvfrom(fd, rb, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return false
		}
		if n >= 28 && binary.BigEndian.Uint16(rb[6:]) == 2 && [4]byte(rb[14:18]) == a4 {
			return true
		}
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
