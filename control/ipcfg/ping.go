package ipcfg

import (
	"context"
	"fmt"
	"io"
	"math"
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
	"github.com/routerd/routerd/control/hostname"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/value"
)

// registerPing installs the root command /ping.
func registerPing(ex *control.Executor, names *link.Names, hosts *hostname.Resolver) {
	ex.Handle("", "ping", control.CommandSpec{Positional: []string{"address"},
		Args:   []string{"count", "interval", "size", "src-address", "interface", "ttl"},
		Policy: "test", Effect: true}, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
		return ping(ctx, c, names, hosts)
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

func pingArgs(ctx context.Context, c *control.Call, names *link.Names, hosts *hostname.Resolver) (pingOpts, error) {
	o := pingOpts{count: 4, interval: time.Second, size: 64, ttl: 64}
	addr, _ := c.S.Get("address")
	if addr == "" {
		return o, control.ArgError("missing value for argument address")
	}
	if a, err := netip.ParseAddr(addr); err == nil {
		o.dst = a.Unmap()
	} else {
		ips, err := hosts.Lookup(ctx, "ip", addr)
		if err == nil && len(ips) == 0 {
			err = hostname.ErrNotFound
		}
		if err != nil {
			return o, control.Failure("could not resolve %s: %v", addr, err)
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
		// The socket binds to the kernel name (SO_BINDTODEVICE knows no altnames).
		o.iface = names.Kernel(o.iface)
		if _, err := net.InterfaceByName(o.iface); err != nil {
			return o, control.ArgError("input does not match any value of interface")
		}
	}
	return o, nil
}

// pingHeader is the column header RouterOS' console prints above the replies.
const pingHeader = "  SEQ HOST                                     SIZE TTL TIME       STATUS"

// pingLine is one row under pingHeader; empty columns stay aligned.
func pingLine(seq int, host, size, ttl, rtt, status string) string {
	return strings.TrimRight(fmt.Sprintf("%5d %-40s %4s %3s %-10s %s", seq, host, size, ttl, rtt, status), " ")
}

// ping sends ICMP echo requests from the daemon and reports as RouterOS' console does: a
// line per request and a summary line. On a console (Sentence.Out) each line is written
// as it comes; otherwise the whole text is the reply. The return value is the number of
// replies received.
func ping(ctx context.Context, c *control.Call, names *link.Names, hosts *hostname.Resolver) (*control.Reply, error) {
	o, err := pingArgs(ctx, c, names, hosts)
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
		if o.src.IsValid() && strings.Contains(err.Error(), "assign requested address") {
			return nil, control.ArgError("invalid value for argument src-address")
		}
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
	var b strings.Builder
	stream := c.S.Out == nil && c.S.Emit != nil
	emit := func(line string) {
		if stream {
			return // rows, not text
		}
		if c.S.Out != nil {
			io.WriteString(c.S.Out, line+"\n")
		} else {
			b.WriteString(line + "\n")
		}
	}
	// For the API and REST each reply is a row as it comes, with the running totals, and
	// without count= it goes on until cancelled, as RouterOS's API ping does.
	if stream && !c.S.Has("count") {
		o.count = math.MaxInt
	}
	sent, recv := 0, 0
	var rtts []time.Duration
	var emitErr error
	report := func(seq int, host, size, ttl, rtt, status string) {
		emit(pingLine(seq, host, size, ttl, rtt, status))
		if !stream || emitErr != nil {
			return
		}
		p := map[string]string{"seq": strconv.Itoa(seq), "host": host}
		keys := []string{"seq", "host"}
		add := func(k, v string) {
			if v != "" {
				p[k] = v
				keys = append(keys, k)
			}
		}
		add("size", size)
		add("ttl", ttl)
		add("time", rtt)
		add("status", status)
		add("sent", strconv.Itoa(sent))
		add("received", strconv.Itoa(recv))
		add("packet-loss", strconv.Itoa((sent-recv)*100/max(sent, 1)))
		if len(rtts) > 0 {
			lo, hi, sum := rtts[0], rtts[0], time.Duration(0)
			for _, r := range rtts {
				lo, hi, sum = min(lo, r), max(hi, r), sum+r
			}
			add("min-rtt", rttString(lo))
			add("avg-rtt", rttString(sum/time.Duration(len(rtts))))
			add("max-rtt", rttString(hi))
		}
		emitErr = c.S.Emit(&control.Reply{Rows: []control.Row{{Props: p, Keys: keys}}})
	}
	emit(pingHeader)
	id := rand.IntN(0xffff)
	payload := make([]byte, max(0, o.size-hdr))
	dst := &net.IPAddr{IP: o.dst.AsSlice()}
	rb := make([]byte, 65536)
	for seq := 0; seq < o.count && ctx.Err() == nil && emitErr == nil; seq++ {
		if seq > 0 {
			select {
			case <-ctx.Done():
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
		sent++
		if _, err := pc.WriteTo(wb, dst); err != nil {
			report(seq, o.dst.String(), "", "", "", sendError(err))
			continue
		}
		pc.SetReadDeadline(t0.Add(time.Second))
		status := ""
		for status == "" {
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
				status = "timeout"
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
			if why, ok := unreachable(m, id, seq); ok {
				status = why
				report(seq, hostOf(from), "", "", "", why)
				break
			}
			echo, ok := m.Body.(*icmp.Echo)
			if !ok || echo.ID != id || echo.Seq != seq || (m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply) {
				continue
			}
			rtt := time.Since(t0)
			rtts = append(rtts, rtt)
			recv++
			status = "ok"
			report(seq, hostOf(from), strconv.Itoa(o.size), strconv.Itoa(ttl), rttString(rtt), "")
		}
		if status == "timeout" {
			report(seq, o.dst.String(), "", "", "", "timeout")
		}
	}
	if stream {
		return &control.Reply{}, emitErr
	}
	emit(pingSummary(sent, recv, rtts))
	rep := &control.Reply{Ret: strconv.Itoa(recv)}
	if c.S.Out == nil {
		rep.Text = b.String()
	}
	return rep, nil
}

// pingSummary is RouterOS' summary line; the round trips only when a reply came.
func pingSummary(sent, recv int, rtts []time.Duration) string {
	loss := 0
	if sent > 0 {
		loss = (sent - recv) * 100 / sent
	}
	line := fmt.Sprintf("    sent=%d received=%d packet-loss=%d%%", sent, recv, loss)
	if len(rtts) > 0 {
		lo, hi, sum := rtts[0], rtts[0], time.Duration(0)
		for _, r := range rtts {
			lo, hi, sum = min(lo, r), max(hi, r), sum+r
		}
		line += fmt.Sprintf(" min-rtt=%s avg-rtt=%s max-rtt=%s", rttString(lo), rttString(sum/time.Duration(len(rtts))), rttString(hi))
	}
	return line
}

// unreachable reports an ICMP destination-unreachable answer to our echo id/seq, in the
// words RouterOS' status column uses.
func unreachable(m *icmp.Message, id, seq int) (string, bool) {
	du, ok := m.Body.(*icmp.DstUnreach)
	if !ok {
		return "", false
	}
	data := du.Data
	var words map[int]string
	switch m.Type {
	case ipv4.ICMPTypeDestinationUnreachable:
		if len(data) < 20 || data[0]>>4 != 4 {
			return "", false
		}
		ihl := int(data[0]&0xf) * 4
		if ihl < 20 || len(data) < ihl {
			return "", false
		}
		data = data[ihl:]
		words = map[int]string{0: "net unreachable", 1: "host unreachable", 3: "port unreachable", 9: "admin prohibited", 10: "admin prohibited", 13: "admin prohibited"}
	case ipv6.ICMPTypeDestinationUnreachable:
		if len(data) < 40 {
			return "", false
		}
		data = data[40:]
		words = map[int]string{0: "no route", 1: "admin prohibited", 3: "address unreachable", 4: "port unreachable"}
	default:
		return "", false
	}
	if len(data) < 8 || int(data[4])<<8|int(data[5]) != id || int(data[6])<<8|int(data[7]) != seq {
		return "", false
	}
	if w, ok := words[m.Code]; ok {
		return w, true
	}
	return "destination unreachable", true
}

// rttString renders a round trip as RouterOS v7 does: "563us", "9ms525us", "12ms".
func rttString(d time.Duration) string {
	ms, us := d/time.Millisecond, (d%time.Millisecond)/time.Microsecond
	switch {
	case ms == 0:
		return fmt.Sprintf("%dus", us)
	case us == 0:
		return fmt.Sprintf("%dms", ms)
	}
	return fmt.Sprintf("%dms%dus", ms, us)
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
