package fastpath

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/firewall"
	"github.com/routerd/routerd/control/ipsec"
	"github.com/routerd/routerd/control/ipsettings"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/queue"
	"github.com/routerd/routerd/control/tunnel"
	"github.com/routerd/routerd/dataplane"
)

// ErrNoDataplane says the eBPF dataplane (loaded by the tunnel engine) is not there.
var ErrNoDataplane = errors.New("fast path: no eBPF dataplane (the tunnel engine did not start)")

// blockers4 and blockers6 are the menus whose enabled items could see forwarded packets
// of the family; while any has one, the family takes no fast path (RouterOS: "firewall
// rules are not configured", "IPsec policies are not configured", "simple and queue
// trees ... are not configured"; routerd declares no /queue tree, so a simple queue is
// the one queue that blocks).
var (
	shared    = []string{ipsec.PolicyPath, queue.Path}
	blockers4 = append([]string{fwPath(false, "filter"), fwPath(false, "nat"), fwPath(false, "mangle"), fwPath(false, "raw")}, shared...)
	blockers6 = append([]string{fwPath(true, "filter"), fwPath(true, "nat"), fwPath(true, "mangle"), fwPath(true, "raw")}, shared...)
)

// fwPath is a firewall table's menu (/ip/firewall/filter).
func fwPath(v6 bool, table string) string {
	if v6 {
		return firewall.Root6 + "/" + table
	}
	return firewall.Root4 + "/" + table
}

// resyncEvery bounds how long a new port, or a peer that started taking redirected
// frames, goes unnoticed.
const resyncEvery = 5 * time.Second

// Engine attaches the port program to the ports and keeps the fast path's settings.
type Engine struct {
	ex *control.Executor
	eh *engine.Handle
	dp Dataplane
	k  Kernel
	// names translates RouterOS interface names to kernel link names (the link engine's).
	names *link.Names

	mu    sync.Mutex
	ports map[string]port // by kernel name
	on4   bool
	on6   bool
	ft4   bool // FastTrack on
	ft6   bool
	why4  string // why IPv4 takes no fast path ("" when it does)
	why6  string
	// bridged are the Ethernet ports that are bridge members: the bridge forwards their
	// packets, so FastTrack does not see them (/ip settings says so).
	bridged []string

	// local are the namespace's IPv4 addresses, as the last dump and the address events
	// since have them; nil until a pass dumps them (watchAddrs, applySources).
	// following says the events are followed at all.
	localMu   sync.Mutex
	local     map[LinkAddr]bool
	following bool
}

// port is a fast path port as last applied.
type port struct {
	index int
	hook  dataplane.Hook
	tx    bool   // takes redirected frames
	err   string // why the program could not be attached
}

// New returns the engine, for an engine host to run after the tunnel engine.
func New() *Engine { return &Engine{ports: map[string]port{}, k: systemKernel{}} }

// portHook is the XDP hook forced with ROUTERD_TUNNEL_HOOK (as the tunnel engine reads
// it), "" for the automatic choice. A port has one XDP program shared with the tunnel
// decapsulator, and the kernel refuses native and generic XDP on one device together, so
// both engines must ask for the same hook; "tc" forces only the decapsulator.
func portHook() dataplane.Hook {
	switch h := dataplane.Hook(os.Getenv("ROUTERD_TUNNEL_HOOK")); h {
	case dataplane.HookXDPNative, dataplane.HookXDPGeneric:
		return h
	}
	return ""
}

// Spec: the settings, the menus that block the fast path and the links are watched.
func (e *Engine) Spec() engine.Spec {
	w := []string{ipsettings.Path, ipsettings.Path6, link.IfacePath}
	w = append(w, blockers4...)
	w = append(w, blockers6[:4]...)
	return engine.Spec{Name: "fastpath", Watch: w, Resync: resyncEvery}
}

// Start finds the dataplane the tunnel engine loaded and offers the counters to /ip
// settings, the per-port property to /interface print and the metrics.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	if e.dp == nil { // a plan test sets a fake
		dp, ok := engine.Lookup[*dataplane.Tunnels](h)
		if !ok || dp == nil {
			return ErrNoDataplane
		}
		e.dp = dp
	}
	e.ex, e.eh = h.Ex, h
	e.names, _ = engine.Lookup[*link.Names](h)
	engine.Offer(h, ipsettings.FastPath(e.status))
	engine.Offer(h, link.Extra(e.linkProps))
	// The firewall's dummy rule shows FastTrack's counters.
	engine.Offer(h, firewall.FastTrackCounters(func(v6 bool) firewall.Counter {
		tot, _ := e.dp.FastTotals()
		if v6 {
			return firewall.Counter{Packets: tot.FastTrack6, Bytes: tot.FastTrackBytes6}
		}
		return firewall.Counter{Packets: tot.FastTrack4, Bytes: tot.FastTrackBytes4}
	}))
	// /ip firewall connection print shows each connection's.
	engine.Offer(h, firewall.FastTrackConns(e.connCounters))
	if h.Metrics != nil {
		if err := h.Metrics.Register(e); err != nil {
			slog.Warn("fast path metrics not registered", "err", err)
		}
	}
	e.watchAddrs(ctx)
	return nil
}

// LinkAddr is one IPv4 address of a link.
type LinkAddr struct {
	Index int
	Addr  netip.Addr
}

// watchAddrs keeps the fast path's set of our addresses as addresses come and go (the
// resync would take up to resyncEvery), until ctx ends: each event changes e.local,
// and a burst of them one write of the set. A subscription the library ends (its
// socket overflowed) loses events: the set is dumped again by the first pass after a
// new socket follows them.
func (e *Engine) watchAddrs(ctx context.Context) {
	subscribe := func() (chan netlink.AddrUpdate, chan struct{}, error) {
		ch := make(chan netlink.AddrUpdate, 1024)
		done := make(chan struct{})
		err := e.k.AddrUpdates(ch, done, func(err error) {
			if ctx.Err() == nil { // closing the socket at shutdown is no error
				slog.Warn("fast path: address updates", "err", err)
			}
		})
		return ch, done, err
	}
	ch, done, err := subscribe()
	if err != nil {
		slog.Warn("fast path: no address updates; our addresses are refreshed on resync", "err", err)
		return
	}
	e.localMu.Lock()
	e.following = true
	e.localMu.Unlock()
	e.eh.Go(ctx, func(ctx context.Context) {
		defer func() { close(done) }()
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-ch:
				if !ok {
					// Events were lost: until a new subscription is there, every pass
					// dumps; once it is, the set is dropped again and the next pass
					// dumps, after which its events are followed. A set dumped before
					// the new subscription would miss what changed in between for good.
					e.localMu.Lock()
					e.local, e.following = nil, false
					e.localMu.Unlock()
					close(done)
					e.eh.Kick()
					for {
						if ch, done, err = subscribe(); err == nil {
							break
						}
						select {
						case <-ctx.Done():
							done = make(chan struct{})
							return
						case <-time.After(time.Second):
						}
					}
					e.localMu.Lock()
					e.local, e.following = nil, true
					e.localMu.Unlock()
					e.eh.Kick()
					continue
				}
				// One write of the set for a burst.
				e.localMu.Lock()
				e.addrEvent(u)
				for len(ch) > 0 {
					if u, ok = <-ch; ok {
						e.addrEvent(u)
					}
				}
				addrs := e.localAddrs()
				e.localMu.Unlock()
				if addrs == nil {
					continue // no dump yet: the pass makes the set
				}
				if err := e.dp.SetLocalAddrs(addrs); err != nil {
					// The pass does the same and shows what fails.
					e.eh.Kick()
				}
			}
		}
	})
}

// addrEvent applies an address event to e.local (held), once a dump filled it: an
// event that came before the dump and is read after it repeats what the dump holds,
// and the events after it are read in order.
func (e *Engine) addrEvent(u netlink.AddrUpdate) {
	if e.local == nil {
		return
	}
	ip, ok := netip.AddrFromSlice(u.LinkAddress.IP.To4())
	if !ok {
		return // IPv6: not in the set
	}
	k := LinkAddr{u.LinkIndex, ip}
	if u.NewAddr {
		e.local[k] = true
	} else {
		delete(e.local, k)
	}
}

// localAddrs is the set of our IPv4 addresses from e.local (held); nil before a dump.
func (e *Engine) localAddrs() []netip.Addr {
	if e.local == nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(e.local))
	for k := range e.local {
		out = append(out, k.Addr)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out) // one address on two links is one entry
}

// Reconcile converges the port attachments and the families' switch to the
// configuration.
func (e *Engine) Reconcile(ctx context.Context) error {
	allow4 := e.setting(ipsettings.Path)
	allow6 := e.setting(ipsettings.Path6)
	why4, why6 := "", ""
	if !allow4 {
		why4 = "allow-fast-path=no"
	} else if m := e.blocked(blockers4); m != "" {
		why4 = m + " configured"
	} else if e.dynamicRules(false) {
		why4 = "dynamic firewall rules"
	}
	if !allow6 {
		why6 = "allow-fast-path=no"
	} else if m := e.blocked(blockers6); m != "" {
		why6 = m + " configured"
	} else if e.dynamicRules(true) {
		why6 = "dynamic firewall rules"
	}
	// FastTrack: while the firewall sees IPv4, connections a fasttrack-connection rule
	// marked still take the fast path (their first packets went through the rules).
	ftRule4, ftRule6 := e.fasttrackRule(false), e.fasttrackRule(true)
	ft4 := allow4 && why4 != "" && ftRule4
	ft6 := allow6 && why6 != "" && ftRule6
	// Conntrack's TCP window checks stay off while the rule exists (the firewall
	// engine's liberal-tcp-tracking, /ip firewall connection tracking).
	// The pin folder removed behind routerd's back took the port attachments with it:
	// made again here (or by the tunnel engine), AddFastPort attaches anew below.
	if _, err := e.dp.Repin(); err != nil {
		return err
	}
	// Sources the kernel would refuse before anything is turned on.
	if err := e.applySources(); err != nil {
		return fmt.Errorf("source checks: %w", err)
	}
	// Off first, then ports: a blocker added never sees a packet forwarded past it.
	if err := e.dp.SetFastPath(why4 == "", why6 == "", ft4, ft6); err != nil {
		return err
	}
	// Inbound raw ESP may reach the userspace ESP path's GRO socket before the stack
	// while no IPv4 firewall rule or queue could see it (the fast path's blockers but
	// the IPsec policies, whose ESP it is; allow-fast-path does not apply).
	if err := e.dp.SetESPSteer(!e.espSeen()); err != nil {
		return err
	}
	// FastTrack refreshes its connections' entries with the namespace's own timeouts
	// (the firewall engine sets them from /ip firewall connection tracking); the resync
	// picks up a change within resyncEvery.
	if err := e.dp.SetFastTrackTimeouts(e.sysctlSeconds(tcpEstablished), e.sysctlSeconds(udpStream)); err != nil {
		return err
	}
	links, err := e.k.LinkList()
	if err != nil {
		return fmt.Errorf("listing links: %w", err)
	}
	want, bridged := e.wantPorts(links)
	ports := map[string]port{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(want)) {
		idx := want[name]
		p := port{index: idx}
		h, tx, err := e.dp.AddFastPort(idx, name, portHook())
		if err != nil {
			p.err = err.Error()
			// Another owner's XDP program stays, and the port says so in print
			// (fast-path-status); it is no failure of the pass to log every 5 s.
			if !errors.Is(err, dataplane.ErrForeignXDP) {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
		p.hook, p.tx = h, tx
		ports[name] = p
	}
	// Ports that went (or are no longer ports) lose the fast path.
	have, err := e.dp.FastPorts()
	if err != nil {
		errs = append(errs, err)
	}
	keep := map[int]bool{}
	for _, p := range ports {
		keep[p.index] = true
	}
	for _, idx := range have {
		if keep[idx] {
			continue
		}
		name := "" // gone from the kernel: only its map entries are left
		if i := slices.IndexFunc(links, func(l netlink.Link) bool { return l.Attrs().Index == idx }); i >= 0 {
			name = links[i].Attrs().Name
		}
		if err := e.dp.RemoveFastPort(idx, name); err != nil {
			if name == "" {
				name = fmt.Sprintf("ifindex %d", idx)
			}
			errs = append(errs, fmt.Errorf("%s: taking the fast path off: %w", name, err))
		}
	}
	e.mu.Lock()
	e.ports, e.on4, e.on6, e.ft4, e.ft6, e.why4, e.why6 = ports, why4 == "", why6 == "", ft4, ft6, why4, why6
	e.bridged = bridged
	e.mu.Unlock()
	return errors.Join(errs...)
}

// The conntrack timeouts FastTrack refreshes entries with.
const (
	tcpEstablished = "net/netfilter/nf_conntrack_tcp_timeout_established"
	udpStream      = "net/netfilter/nf_conntrack_udp_timeout_stream"
)

// sysctlSeconds reads a sysctl in seconds (0 when unreadable: the program's default).
func (e *Engine) sysctlSeconds(name string) time.Duration {
	v, err := e.k.Sysctl(name)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0
	}
	return time.Duration(n) * time.Second
}

// fasttrackRule reports whether an enabled fasttrack-connection rule of the family exists.
func (e *Engine) fasttrackRule(v6 bool) bool {
	paths := []string{fwPath(v6, "filter"), fwPath(v6, "mangle")}
	for _, p := range paths {
		its, _ := e.ex.Items(p)
		for _, it := range its {
			if it.Props["action"] == "fasttrack-connection" && it.Props["disabled"] != "yes" {
				return true
			}
		}
	}
	return false
}

// dynamicRules reports whether the firewall has rules in the family's table that are
// not items of the menus (dynamic rules other engines add).
func (e *Engine) dynamicRules(v6 bool) bool {
	dr, ok := engine.Lookup[*firewall.DynamicRules](e.eh)
	return ok && dr != nil && dr.RulesApplied(v6)
}

// espBlind are the IPv4 firewall chains that never see a packet addressed to the router
// (its inbound ESP): a rule elsewhere, or in a chain of its own that a jump from
// prerouting or input could reach, could.
var espBlind = map[string]bool{"forward": true, "output": true, "srcnat": true, "postrouting": true}

// espSeen reports whether a rule of an IPv4 firewall table, configured (enabled) or
// dynamic (IPsec's NAT bypass rules are srcnat: blind), or a queue, could see inbound
// raw ESP, which Tunnels.SetESPSteer then keeps on the stack's path.
func (e *Engine) espSeen() bool {
	if e.blocked([]string{queue.Path}) != "" {
		return true
	}
	for _, t := range []string{"filter", "nat", "mangle", "raw"} {
		its, err := e.ex.Items(fwPath(false, t))
		if err != nil {
			continue
		}
		for _, it := range its {
			if it.Props["disabled"] != "yes" && it.Props["template"] != "yes" && !espBlind[it.Props["chain"]] {
				return true
			}
		}
	}
	if dr, ok := engine.Lookup[*firewall.DynamicRules](e.eh); ok && dr != nil {
		for _, c := range dr.Chains(false) {
			if !espBlind[c] {
				return true
			}
		}
	}
	return false
}

// setting reads allow-fast-path of a settings menu (default yes).
func (e *Engine) setting(path string) bool {
	its, err := e.ex.Items(path)
	if err != nil || len(its) == 0 {
		return true
	}
	return its[0].Props["allow-fast-path"] != "no"
}

// blocked names the first menu among paths with an enabled item ("" for none).
func (e *Engine) blocked(paths []string) string {
	for _, p := range paths {
		its, err := e.ex.Items(p)
		if err != nil {
			continue
		}
		for _, it := range its {
			if it.Props["disabled"] == "yes" || it.Props["template"] == "yes" {
				continue
			}
			return strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", " ")
		}
	}
	return ""
}

// wantPorts lists the ports among links: the Ethernet links (veth or hardware) that
// are no bridge member, no tunnel's link and not the loopback; and, by their RouterOS
// names, the Ethernet links it leaves out for being bridge members.
func (e *Engine) wantPorts(links []netlink.Link) (map[string]int, []string) {
	byIndex := make(map[int]netlink.Link, len(links))
	for _, l := range links {
		byIndex[l.Attrs().Index] = l
	}
	out := map[string]int{}
	var bridged []string
	for _, l := range links {
		a := l.Attrs()
		if t := l.Type(); t != "veth" && t != "device" {
			continue
		}
		if a.Flags&net.FlagLoopback != 0 || len(a.HardwareAddr) != 6 || a.EncapType != "ether" || tunnelLink(l, byIndex) {
			continue
		}
		if a.MasterIndex != 0 {
			bridged = append(bridged, e.names.Of(a))
			continue
		}
		out[a.Name] = a.Index
	}
	slices.Sort(bridged)
	return out, bridged
}

// tunnelLink reports whether l belongs to a tunnel, by what the kernel shows of it
// rather than by the configuration, which a tunnel being added or removed is ahead of
// (QA: four writers making and removing GRE tunnels had the fast path attach to the
// visible end of a tunnel being removed, 14 times in 25 s): a tunnel's hidden veth end;
// the other end of a pair whose peer is hidden, from the moment the pair exists; and a
// veth whose peer in this namespace is no longer there, a pair being deleted (both ends
// go together; a peer in another namespace, as a test's veth has, is not looked for).
func tunnelLink(l netlink.Link, byIndex map[int]netlink.Link) bool {
	a := l.Attrs()
	if tunnel.IsHidden(a.Name) {
		return true
	}
	if l.Type() != "veth" || a.ParentIndex == 0 || a.NetNsID >= 0 {
		return false
	}
	peer, ok := byIndex[a.ParentIndex]
	return !ok || tunnel.IsHidden(peer.Attrs().Name)
}

// status is what /ip settings and /ipv6 settings print of the fast path.
func (e *Engine) status() ipsettings.FastPathStatus {
	tot, _ := e.dp.FastTotals()
	e.mu.Lock()
	defer e.mu.Unlock()
	tx := false
	for _, p := range e.ports {
		tx = tx || (p.tx && p.err == "")
	}
	note := func(ft bool) string {
		if !ft || len(e.bridged) == 0 {
			return ""
		}
		return "connections entering by bridge ports (" + strings.Join(e.bridged, ", ") +
			") are not fasttracked: the bridge forwards their packets, and the fast path (XDP) has no bridge lookup"
	}
	return ipsettings.FastPathStatus{
		Active4: e.on4 && tx, Packets4: tot.Packets4 - tot.FastTrack4, Bytes4: tot.Bytes4 - tot.FastTrackBytes4,
		Active6: e.on6 && tx, Packets6: tot.Packets6 - tot.FastTrack6, Bytes6: tot.Bytes6 - tot.FastTrackBytes6,
		FastTrackActive4: e.ft4 && tx, FastTrack4: tot.FastTrack4, FastTrackBytes4: tot.FastTrackBytes4,
		FastTrackActive6: e.ft6 && tx, FastTrack6: tot.FastTrack6, FastTrackBytes6: tot.FastTrackBytes6,
		FastTrackNote4: note(e.ft4), FastTrackNote6: note(e.ft6),
	}
}

// linkProps is the fast-path property of a port in /interface print: yes while its
// packets may take the fast path (the family's switch aside).
func (e *Engine) linkProps(name string) map[string]string {
	e.mu.Lock()
	p, ok := e.ports[e.names.Kernel(name)] // ports go by kernel name
	e.mu.Unlock()
	if !ok {
		return nil
	}
	props := map[string]string{"fast-path": "no"}
	if p.err == "" && p.hook != "" {
		props["fast-path"] = "yes"
	}
	if p.err != "" {
		props["fast-path-status"] = p.err
	}
	return props
}

// Ports lists the fast path ports with their state (tests, diagnostics).
func (e *Engine) Ports() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for n, p := range e.ports {
		out = append(out, n+" hook="+string(p.hook)+" tx="+strconv.FormatBool(p.tx))
	}
	sort.Strings(out)
	return out
}

// applySources hands the addresses and the interfaces' source checks to the fast path.
// The addresses are dumped while no events are followed, or when events were lost;
// otherwise the events keep them (a pass every resyncEvery dumped 10,000 addresses
// each time, and each burst of address events during an import did too: issue 15).
// The dump is made holding localMu, so no event is applied beside it.
func (e *Engine) applySources() error {
	e.localMu.Lock()
	if e.local == nil || !e.following {
		las, err := e.k.LocalAddrs()
		if err != nil {
			e.localMu.Unlock()
			return err
		}
		e.local = make(map[LinkAddr]bool, len(las))
		for _, a := range las {
			e.local[a] = true
		}
	}
	addrs := e.localAddrs()
	if !e.following {
		e.local = nil
	}
	e.localMu.Unlock()
	if err := e.dp.SetLocalAddrs(addrs); err != nil {
		return err
	}
	modes, err := e.k.SourceChecks(tunnel.IsHidden)
	if err != nil {
		return err
	}
	return e.dp.SetSourceChecks(modes)
}

// connCounters is the firewall.FastTrackConns the engine offers: the dataplane's
// per-connection FastTrack counters.
func (e *Engine) connCounters(forget []firewall.ConnKey) (map[firewall.ConnKey]firewall.ConnFastTrack, error) {
	fs := make([]dataplane.FastTrackConn, len(forget))
	for i, k := range forget {
		fs[i] = dataplane.FastTrackConn(k)
	}
	got, err := e.dp.FastTrackConns(fs)
	if err != nil {
		return nil, err
	}
	out := make(map[firewall.ConnKey]firewall.ConnFastTrack, len(got))
	for c, n := range got {
		var v firewall.ConnFastTrack
		for d := range v {
			v[d] = firewall.Counter{Packets: n.Packets[d], Bytes: n.Bytes[d]}
		}
		out[firewall.ConnKey(c)] = v
	}
	return out, nil
}
