package firewall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

// Menu paths of connection tracking.
const (
	ConnPath     = menu.Connection4Path
	ConnPath6    = menu.Connection6Path
	TrackingPath = menu.ConnTrackingPath
)

var tcpStates = []string{"none", "syn-sent", "syn-received", "established", "fin-wait", "close-wait", "last-ack",
	"time-wait", "close", "syn-sent2"}

// conns lists and removes kernel connections; rows get ids that stay with the
// connection (its original tuple) while routerd runs.
type conns struct {
	k        *Kernel
	markName func() map[uint32]string
	ftConns  FastTrackConns // nil: no fast path
	mu       sync.Mutex
	ids      map[string]uint64
	by       map[uint64]conntrack.Flow
	// ftGone are the connections with fast path counters that the last print did not
	// find in conntrack: forgotten when the next print does not find them either (one
	// dump may miss a connection fasttracked while it ran).
	ftGone map[ConnKey]bool
	// samples are the connections' byte counters when last sampled, with the rates
	// between that sample and the one before (orig-rate, repl-rate); sampled is when.
	samples map[string]ctSample
	sampled time.Time
}

// ctSample is one connection's byte counters at a time, and its rates in bits per
// second since the sample before.
type ctSample struct {
	at         time.Time
	orig, repl uint64
	rate       [2]uint64
}

// The kernel keeps no rate per connection: print computes it from two dumps of the
// counters at least rateWindow apart. A print with no sample in the last rateStale
// dumps twice, rateWindow apart, so one print shows the rates now, as RouterOS's.
const (
	rateWindow = 500 * time.Millisecond
	rateStale  = 3 * time.Second
)

// sample takes the counters of flows at now into the rates; a connection sampled less
// than rateWindow ago keeps its sample and rate.
func (cs *conns) sample(flows []conntrack.Flow, now time.Time) {
	next := make(map[string]ctSample, len(flows))
	for _, f := range flows {
		k := tupleKey(f.TupleOrig)
		s, ok := cs.samples[k]
		if ok && now.Sub(s.at) < rateWindow {
			next[k] = s
			continue
		}
		n := ctSample{at: now, orig: f.CountersOrig.Bytes, repl: f.CountersReply.Bytes}
		if ok {
			dt := now.Sub(s.at).Seconds()
			if n.orig >= s.orig {
				n.rate[0] = uint64(float64(n.orig-s.orig) * 8 / dt)
			}
			if n.repl >= s.repl {
				n.rate[1] = uint64(float64(n.repl-s.repl) * 8 / dt)
			}
		}
		next[k] = n
	}
	cs.samples, cs.sampled = next, now
}

func (k *Kernel) ctConn() (*conntrack.Conn, error) {
	c, err := conntrack.Dial(&netlink.Config{NetNS: k.NetNS})
	if err != nil {
		return nil, fmt.Errorf("conntrack: %w", err)
	}
	return c, nil
}

func tupleKey(t conntrack.Tuple) string {
	return fmt.Sprintf("%d/%s/%d/%s/%d/%d", t.Proto.Protocol, t.IP.SourceAddress, t.Proto.SourcePort,
		t.IP.DestinationAddress, t.Proto.DestinationPort, t.Proto.ICMPID)
}

func hostPort(a netip.Addr, port uint16, ports bool) string {
	if !ports {
		return a.String()
	}
	if a.Is6() {
		return "[" + a.String() + "]:" + strconv.Itoa(int(port))
	}
	return a.String() + ":" + strconv.Itoa(int(port))
}

// rows dumps the kernel's connections of one family as /ip firewall connection rows;
// with rates, orig-rate and repl-rate are measured (ctx ends the wait between dumps).
func (cs *conns) rows(ctx context.Context, v6, rates bool) ([]control.Row, error) {
	c, err := cs.k.ctConn()
	if err != nil {
		return nil, control.Failure("%v", err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		return nil, control.Failure("conntrack: %v", err)
	}
	if rates {
		cs.mu.Lock()
		stale := time.Since(cs.sampled) > rateStale
		if stale {
			cs.sample(flows, time.Now())
		}
		cs.mu.Unlock()
		if stale {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(rateWindow):
			}
			if flows, err = c.Dump(nil); err != nil {
				return nil, control.Failure("conntrack: %v", err)
			}
		}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if rates {
		cs.sample(flows, time.Now())
	}
	if cs.ids == nil {
		cs.ids = map[string]uint64{}
	}
	cs.by = map[uint64]conntrack.Flow{}
	ft := cs.fastTrack(flows)
	var rows []control.Row
	for _, f := range flows {
		o, r := f.TupleOrig, f.TupleReply
		if o.IP.SourceAddress.Is6() != v6 {
			continue
		}
		k := tupleKey(o)
		id, ok := cs.ids[k]
		if !ok {
			id = uint64(len(cs.ids) + 1)
			cs.ids[k] = id
		}
		cs.by[id] = f
		ports := o.Proto.Protocol == unix.IPPROTO_TCP || o.Proto.Protocol == unix.IPPROTO_UDP ||
			o.Proto.Protocol == unix.IPPROTO_SCTP || o.Proto.Protocol == unix.IPPROTO_DCCP
		proto := strconv.Itoa(int(o.Proto.Protocol))
		for n, p := range protoNames {
			if int(p) == int(o.Proto.Protocol) {
				proto = n
			}
		}
		p := map[string]string{
			"protocol":          proto,
			"src-address":       hostPort(o.IP.SourceAddress, o.Proto.SourcePort, ports),
			"dst-address":       hostPort(o.IP.DestinationAddress, o.Proto.DestinationPort, ports),
			"reply-src-address": hostPort(r.IP.SourceAddress, r.Proto.SourcePort, ports),
			"reply-dst-address": hostPort(r.IP.DestinationAddress, r.Proto.DestinationPort, ports),
			"timeout":           value.FormatDuration(time.Duration(f.Timeout) * time.Second),
			"orig-packets":      strconv.FormatUint(f.CountersOrig.Packets, 10),
			"orig-bytes":        strconv.FormatUint(f.CountersOrig.Bytes, 10),
			"repl-packets":      strconv.FormatUint(f.CountersReply.Packets, 10),
			"repl-bytes":        strconv.FormatUint(f.CountersReply.Bytes, 10),
			"assured":           yesNo(f.Status.Assured()),
			"seen-reply":        yesNo(f.Status.SeenReply()),
			"srcnat":            yesNo(f.Status.SrcNAT()),
			"dstnat":            yesNo(f.Status.DstNAT()),
		}
		c := ft[connKey(o)]
		p["orig-fasttrack-packets"], p["orig-fasttrack-bytes"] = strconv.FormatUint(c[0].Packets, 10), strconv.FormatUint(c[0].Bytes, 10)
		p["repl-fasttrack-packets"], p["repl-fasttrack-bytes"] = strconv.FormatUint(c[1].Packets, 10), strconv.FormatUint(c[1].Bytes, 10)
		if m := cs.mark(f.Mark & ConnMarkMask); m != "" { // RouterOS shows it when set
			p["connection-mark"] = m
		}
		if s, ok := cs.samples[k]; ok && rates {
			p["orig-rate"], p["repl-rate"] = strconv.FormatUint(s.rate[0], 10), strconv.FormatUint(s.rate[1], 10)
		}
		if f.ProtoInfo.TCP != nil && int(f.ProtoInfo.TCP.State) < len(tcpStates) {
			p["tcp-state"] = tcpStates[f.ProtoInfo.TCP.State]
		}
		var fl []byte
		for _, x := range []struct {
			on bool
			c  byte
		}{{f.Status.Expected(), 'E'}, {f.Status.SeenReply(), 'S'}, {f.Status.Assured(), 'A'}, {f.Status.Confirmed(), 'C'},
			{f.Status.Dying(), 'D'}, {f.Status.Offload() || f.Mark&FastTrackMark != 0, 'F'}, {f.Status.SrcNAT(), 's'}, {f.Status.DstNAT(), 'd'}} {
			if x.on {
				fl = append(fl, x.c)
			}
		}
		rows = append(rows, control.Row{ID: id, Props: p, Flags: string(fl)})
	}
	return rows, nil
}

// connKey is the connection of an original tuple, as the fast path counts it.
func connKey(t conntrack.Tuple) ConnKey {
	return ConnKey{Proto: t.Proto.Protocol, Src: netip.AddrPortFrom(t.IP.SourceAddress, t.Proto.SourcePort),
		Dst: netip.AddrPortFrom(t.IP.DestinationAddress, t.Proto.DestinationPort)}
}

// fastTrack reads the fast path's counters of the connections (either family), and
// has it forget those absent from this dump and the one before; a read that fails
// shows zeros (print still lists the connections). cs.mu is held.
func (cs *conns) fastTrack(flows []conntrack.Flow) map[ConnKey]ConnFastTrack {
	if cs.ftConns == nil {
		return nil
	}
	live := make(map[ConnKey]bool, len(flows))
	for _, f := range flows {
		live[connKey(f.TupleOrig)] = true
	}
	var forget []ConnKey
	for k := range cs.ftGone {
		if !live[k] {
			forget = append(forget, k)
		}
	}
	got, err := cs.ftConns(forget)
	if err != nil {
		slog.Warn("fast path connection counters not read", "err", err)
		return nil
	}
	cs.ftGone = map[ConnKey]bool{}
	for k := range got {
		if !live[k] {
			cs.ftGone[k] = true
		}
	}
	return got
}

// remove deletes the connections with the given row ids.
func (cs *conns) remove(ids []uint64) error {
	c, err := cs.k.ctConn()
	if err != nil {
		return control.Failure("%v", err)
	}
	defer c.Close()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, id := range ids {
		f, ok := cs.by[id]
		if !ok {
			return control.ErrNoSuchItem
		}
		if err := c.Delete(f); err != nil && !strings.Contains(err.Error(), "no such file") {
			return control.Failure("conntrack: %v", err)
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// registerConnections provides /ip firewall connection (print, remove) and the totals of
// /ip firewall connection tracking.
func (e *Engine) registerConnections() {
	cs := &conns{k: e.k, markName: e.connMarkNames, ftConns: e.opts.FastTrackConns}
	for _, v6 := range []bool{false, true} {
		path, v := ConnPath, v6
		if v6 {
			path = ConnPath6
		}
		e.ex.SetEngine(path, "firewall")
		e.ex.Provide(path, func(ctx context.Context, _ *control.Session) ([]control.Row, error) { return cs.rows(ctx, v, true) })
		m, ok := e.ex.Tree.Get(path)
		if !ok {
			continue
		}
		e.ex.Handle(path, "remove", control.CommandSpec{Positional: []string{"numbers"}}, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
			ref, _ := c.S.Get("numbers")
			if _, err := cs.rows(ctx, v, false); err != nil {
				return nil, err
			}
			var ids []uint64
			for _, part := range strings.Split(ref, ",") {
				id, isID := control.ParseID(strings.TrimSpace(part))
				if !isID {
					// Row numbers as the last print showed them, or find's ids.
					var rids []uint64
					verr := e.ex.View(c.Sess, func(tx *store.Tx) error {
						var err error
						rids, err = e.ex.Resolve(tx, c.Sess, m, part)
						return err
					})
					if verr != nil {
						return nil, verr
					}
					ids = append(ids, rids...)
					continue
				}
				ids = append(ids, id)
			}
			return &control.Reply{Menu: m}, cs.remove(ids)
		})
	}
	e.ex.SetEngine(TrackingPath, "firewall")
	e.ex.Provide(TrackingPath, func(context.Context, *control.Session) ([]control.Row, error) {
		p := map[string]string{}
		if n, max, err := e.k.conntrackTotals(); err == nil {
			p["total-entries"], p["max-entries"] = strconv.Itoa(n), strconv.Itoa(max)
		}
		return []control.Row{{Props: p}}, nil
	})
}

// trackingSysctls maps /ip firewall connection tracking settings to the kernel's.
// RouterOS has no /ipv6 firewall connection tracking: its icmp-timeout governs ICMPv6
// connections too.
var trackingSysctls = map[string][]string{
	"generic-timeout":          {"nf_conntrack_generic_timeout"},
	"icmp-timeout":             {"nf_conntrack_icmp_timeout", "nf_conntrack_icmpv6_timeout"},
	"tcp-close-timeout":        {"nf_conntrack_tcp_timeout_close"},
	"tcp-close-wait-timeout":   {"nf_conntrack_tcp_timeout_close_wait"},
	"tcp-established-timeout":  {"nf_conntrack_tcp_timeout_established"},
	"tcp-fin-wait-timeout":     {"nf_conntrack_tcp_timeout_fin_wait"},
	"tcp-last-ack-timeout":     {"nf_conntrack_tcp_timeout_last_ack"},
	"tcp-syn-received-timeout": {"nf_conntrack_tcp_timeout_syn_recv"},
	"tcp-syn-sent-timeout":     {"nf_conntrack_tcp_timeout_syn_sent"},
	"tcp-time-wait-timeout":    {"nf_conntrack_tcp_timeout_time_wait"},
	"udp-stream-timeout":       {"nf_conntrack_udp_timeout_stream"},
	"udp-timeout":              {"nf_conntrack_udp_timeout"},
	"tcp-max-retrans-timeout":  {"nf_conntrack_tcp_timeout_max_retrans"},
	"tcp-unacked-timeout":      {"nf_conntrack_tcp_timeout_unacknowledged"},
	"loose-tcp-tracking":       {"nf_conntrack_tcp_loose"},
	"liberal-tcp-tracking":     {"nf_conntrack_tcp_be_liberal"},
}

// fasttrackConfigured reports whether an enabled fasttrack-connection rule exists in
// either family's filter or mangle.
func (e *Engine) fasttrackConfigured() bool {
	for _, v6 := range []bool{false, true} {
		for _, t := range []string{"filter", "mangle"} {
			its, _ := e.ex.Items(rulePath(v6, t))
			for _, it := range its {
				if it.Props["action"] == "fasttrack-connection" && it.Props["disabled"] != "yes" {
					return true
				}
			}
		}
	}
	return false
}

// applyTracking writes the connection tracking settings to the kernel of the daemon's
// namespace (/proc/sys is the namespace's own). With Options.NetNS (tests) it is not
// written: /proc/sys belongs to the process's namespace.
func (e *Engine) applyTracking(sysctlDir string) error {
	if e.k.NetNS != 0 && sysctlDir == "" {
		return nil
	}
	if sysctlDir == "" {
		sysctlDir = "/proc/sys/net/netfilter"
	}
	items, err := e.ex.Items(TrackingPath)
	if err != nil {
		return err
	}
	props := map[string]string{}
	if len(items) > 0 {
		props = items[0].Props
	}
	m, _ := e.ex.Tree.Get(TrackingPath)
	var errs error
	for prop, names := range trackingSysctls {
		v := props[prop]
		if v == "" && m != nil {
			if p, ok := m.Prop(prop); ok {
				v = p.Default
			}
		}
		var out string
		switch prop {
		case "loose-tcp-tracking":
			out = map[string]string{"yes": "1", "no": "0"}[v]
		case "liberal-tcp-tracking":
			// Window checks stay off while a fasttrack-connection rule exists, as the
			// kernel's flow offload does for the connections it takes: conntrack does
			// not see the segments FastTrack forwards, and would call the first one it
			// sees again (FastTrack turned off, a FIN) out of window, invalid, and
			// leave it untranslated.
			out = map[string]string{"yes": "1", "no": "0"}[v]
			if e.fasttrackConfigured() {
				out = "1"
			}
		default:
			d, err := value.ParseDuration(v)
			if err != nil {
				continue
			}
			if d < time.Second || d > menu.CTTimeoutMax {
				// Stored before add and set refused it: 0s would drop every connection
				// of the kind at once.
				errs = errors.Join(errs, fmt.Errorf("connection tracking: %s=%s out of range, not applied", prop, v))
				continue
			}
			out = strconv.Itoa(int(d / time.Second))
		}
		for _, name := range names {
			if err := setSysctl(filepath.Join(sysctlDir, name), out); err != nil {
				errs = errors.Join(errs, fmt.Errorf("connection tracking: %s: %w", prop, err))
			}
		}
	}
	// Accounting, so /ip firewall connection shows each connection's packets and bytes
	// as RouterOS does (the kernel counts nothing with it off).
	if err := setSysctl(filepath.Join(sysctlDir, "nf_conntrack_acct"), "1"); err != nil {
		errs = errors.Join(errs, fmt.Errorf("connection tracking: accounting: %w", err))
	}
	// The settings' item says what did not reach the kernel (the next pass tries again).
	var st control.ItemState
	if errs != nil {
		st.Invalid, st.Status = true, errs.Error()
	}
	id := uint64(1) // a Single menu's item
	if len(items) > 0 {
		id = items[0].ID
	}
	e.ex.State.Set(TrackingPath, id, st)
	return errs
}

// setSysctl writes v only when the knob holds another value: a pass with nothing
// changed writes nothing.
func setSysctl(path, v string) error {
	if cur, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(cur)) == v {
		return nil
	}
	return os.WriteFile(path, []byte(v), 0o644)
}

// conntrackTotals reads the number of tracked connections and the limit
// (/ip firewall connection tracking's total-entries and max-entries, the
// routerd_conntrack_* gauges). nf_conntrack_max is one for all namespaces; the count
// is per namespace, so in another namespace than the daemon's (Options.NetNS) the
// connections are counted from a dump.
func (k *Kernel) conntrackTotals() (n, max int, err error) {
	read := func(name string) (int, error) {
		b, err := os.ReadFile("/proc/sys/net/netfilter/" + name)
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if max, err = read("nf_conntrack_max"); err != nil {
		return 0, 0, err
	}
	if k.NetNS == 0 {
		n, err = read("nf_conntrack_count")
		return n, max, err
	}
	c, err := k.ctConn()
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		return 0, 0, fmt.Errorf("conntrack: %w", err)
	}
	return len(flows), max, nil
}

// mark shows a connection mark by the name that makes it, as RouterOS does (the number
// when no rule names it).
func (cs *conns) mark(m uint32) string {
	if m == 0 {
		return ""
	}
	if cs.markName != nil {
		if n, ok := cs.markName()[m]; ok {
			return n
		}
	}
	return strconv.FormatUint(uint64(m), 10)
}

// connMarkNames maps the allocated connection marks to their names.
func (e *Engine) connMarkNames() map[uint32]string { return e.marks.connNames() }

// trackingProps names the connection tracking settings the engine applies.
func trackingProps() engine.Props {
	ps := engine.Props{"enabled"}
	for k := range trackingSysctls {
		ps = append(ps, k)
	}
	slices.Sort(ps)
	return ps
}
