package ipcfg

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

// Resolver returns a resolver that asks the /ip dns servers, or the system's when none
// are set: routerd resolves names (peer addresses, ping targets) through it.
func Resolver(ex *control.Executor) *net.Resolver {
	var servers []string
	ex.Store.View(func(tx *store.Tx) error {
		if it, err := tx.Get("/ip/dns", 1); err == nil && it.Props["servers"] != "" {
			servers = strings.Split(it.Props["servers"], ",")
		}
		return nil
	})
	if len(servers) == 0 {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		var err error
		for _, s := range servers {
			var c net.Conn
			if c, err = d.DialContext(ctx, network, net.JoinHostPort(s, "53")); err == nil {
				return c, nil
			}
		}
		return nil, err
	}}
}

// registerPing installs the root command /ping.
func registerPing(ex *control.Executor) {
	ex.Handle("", "ping", control.CommandSpec{Positional: []string{"address"},
		Args:   []string{"count", "interval", "size", "src-address", "interface", "ttl"},
		Policy: "test"}, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
		return ping(ctx, c)
	})
}

type pingOpts struct {
	dst      netip.Addr
	count    int
	interval time.Duration
	size     int
	src      netip.Addr
	iface    string
	ttl      int
}

func pingArgs(ctx context.Context, c *control.Call) (pingOpts, error) {
	o := pingOpts{count: 4, interval: time.Second, size: 64, ttl: 64}
	addr, _ := c.S.Get("address")
	if addr == "" {
		return o, control.ArgError("missing value for argument address")
	}
	if a, err := netip.ParseAddr(addr); err == nil {
		o.dst = a.Unmap()
	} else {
		ips, err := Resolver(c.Ex).LookupNetIP(ctx, "ip", addr)
		if err != nil || len(ips) == 0 {
			return o, control.Failure("could not resolve %s", addr)
		}
		o.dst = ips[0].Unmap()
	}
	num := func(name string, lo, hi int, dst *int) error {
		v, ok := c.S.Get(name)
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return control.ArgError("invalid value for argument %s", name)
		}
		*dst = n
		return nil
	}
	if err := num("count", 1, 10000, &o.count); err != nil {
		return o, err
	}
	if err := num("size", 14, 65535, &o.size); err != nil {
		return o, err
	}
	if err := num("ttl", 1, 255, &o.ttl); err != nil {
		return o, err
	}
	if v, ok := c.S.Get("interval"); ok {
		d, err := value.ParseDuration(v)
		if err != nil || d < 10*time.Millisecond || d > 5*time.Second {
			return o, control.ArgError("invalid value for argument interval")
		}
		o.interval = d
	}
	if v, ok := c.S.Get("src-address"); ok && v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Is4() != o.dst.Is4() {
			return o, control.ArgError("invalid value for argument src-address")
		}
		o.src = a
	}
	o.iface, _ = c.S.Get("interface")
	if o.iface != "" {
		if _, err := net.InterfaceByName(o.iface); err != nil {
			return o, control.ArgError("input does not match any value of interface")
		}
	}
	return o, nil
}

// ping sends ICMP echo requests from the daemon and reports as RouterOS' console does.
func ping(ctx context.Context, c *control.Call) (*control.Reply, error) {
	o, err := pingArgs(ctx, c)
	if err != nil {
		return nil, err
	}
	v4 := o.dst.Is4()
	network, src, hdr := "ip6:ipv6-icmp", "::", 48
	if v4 {
		network, src, hdr = "ip4:icmp", "0.0.0.0", 28
	}
	if o.src.IsValid() {
		src = o.src.String()
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if o.iface != "" {
			rc.Control(func(fd uintptr) { serr = syscall.BindToDevice(int(fd), o.iface) })
		}
		return serr
	}}
	pc, err := lc.ListenPacket(ctx, network, src)
	if err != nil {
		return nil, control.Failure("cannot open ICMP socket: %v", err)
	}
	defer pc.Close()
	var (
		p4 *ipv4.PacketConn
		p6 *ipv6.PacketConn
	)
	if v4 {
		p4 = ipv4.NewPacketConn(pc)
		p4.SetTTL(o.ttl)
		p4.SetControlMessage(ipv4.FlagTTL, true)
	} else {
		p6 = ipv6.NewPacketConn(pc)
		p6.SetHopLimit(o.ttl)
		p6.SetControlMessage(ipv6.FlagHopLimit, true)
	}
	id := rand.IntN(0xffff)
	payload := make([]byte, max(0, o.size-hdr))
	var b strings.Builder
	sent, recv := 0, 0
	var rtts []time.Duration
	dst := &net.IPAddr{IP: o.dst.AsSlice()}
	for seq := 0; seq < o.count; seq++ {
		if seq > 0 {
			select {
			case <-ctx.Done():
				seq = o.count
				continue
			case <-time.After(o.interval):
			}
		}
		var typ icmp.Type = ipv4.ICMPTypeEcho
		if !v4 {
			typ = ipv6.ICMPTypeEchoRequest
		}
		msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: payload}}
		wb, err := msg.Marshal(nil)
		if err != nil {
			return nil, control.Failure("%v", err)
		}
		t0 := time.Now()
		if _, err := pc.WriteTo(wb, dst); err != nil {
			fmt.Fprintf(&b, "%s %s\n", o.dst, sendError(err))
			sent++
			continue
		}
		sent++
		deadline := t0.Add(time.Second)
		pc.SetReadDeadline(deadline)
		got := false
		rb := make([]byte, 65536)
		for !got {
			var n, ttl int
			var from net.Addr
			if v4 {
				var cm *ipv4.ControlMessage
				n, cm, from, err = p4.ReadFrom(rb)
				if cm != nil {
					ttl = cm.TTL
				}
			} else {
				var cm *ipv6.ControlMessage
				n, cm, from, err = p6.ReadFrom(rb)
				if cm != nil {
					ttl = cm.HopLimit
				}
			}
			if err != nil {
				break
			}
			proto := 1
			if !v4 {
				proto = 58
			}
			m, err := icmp.ParseMessage(proto, rb[:n])
			if err != nil {
				continue
			}
			echo, ok := m.Body.(*icmp.Echo)
			if !ok || echo.ID != id || echo.Seq != seq || (m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply) {
				continue
			}
			rtt := time.Since(t0)
			rtts = append(rtts, rtt)
			recv++
			got = true
			fmt.Fprintf(&b, "%s %d byte ping: ttl=%d time=%s\n", hostOf(from), o.size, ttl, ms(rtt))
		}
		if !got {
			fmt.Fprintf(&b, "%s timeout\n", o.dst)
		}
	}
	loss := 0
	if sent > 0 {
		loss = (sent - recv) * 100 / sent
	}
	fmt.Fprintf(&b, "%d packets transmitted, %d packets received, %d%% packet loss\n", sent, recv, loss)
	if len(rtts) > 0 {
		lo, hi, sum := rtts[0], rtts[0], time.Duration(0)
		for _, r := range rtts {
			lo, hi, sum = min(lo, r), max(hi, r), sum+r
		}
		avg := float64(sum) / float64(len(rtts)) / float64(time.Millisecond)
		fmt.Fprintf(&b, "round-trip min/avg/max = %s/%.1f/%s ms\n", msNum(lo), avg, msNum(hi))
	}
	return &control.Reply{Text: b.String(), Ret: strconv.Itoa(recv)}, nil
}

func sendError(err error) string {
	if strings.Contains(err.Error(), "unreachable") {
		return "no route to host"
	}
	return "send failed: " + err.Error()
}

func hostOf(a net.Addr) string {
	if ia, ok := a.(*net.IPAddr); ok {
		return ia.IP.String()
	}
	return a.String()
}

// ms renders a round trip as the console does: whole milliseconds, "<1" below one.
func ms(d time.Duration) string { return msNum(d) + " ms" }

func msNum(d time.Duration) string {
	if d < time.Millisecond {
		return "<1"
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}
