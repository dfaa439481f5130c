package firewall

import (
	"context"
	"net/netip"
	"slices"

	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/link"
)

// FastTrackCounters is the service the fast path offers the firewall: the packets and
// bytes of one family it forwarded for fasttracked connections (those whose conntrack
// mark has FastTrackMark), shown on the filter table's dummy fasttrack rule.
type FastTrackCounters func(v6 bool) Counter

// ConnKey is a connection by conntrack's original tuple: its protocol, source and
// destination (port 0 for a protocol without ports).
type ConnKey struct {
	Proto    uint8
	Src, Dst netip.AddrPort
}

// ConnFastTrack is what the fast path forwarded of one connection: [0] in its original
// direction, [1] in its reply direction.
type ConnFastTrack [2]Counter

// FastTrackConns is the service the fast path offers /ip firewall connection print: the
// counters of the connections it forwarded, after forgetting those in forget (gone from
// conntrack, so that a later connection with the same tuple starts from zero).
type FastTrackConns func(forget []ConnKey) (map[ConnKey]ConnFastTrack, error)

// Register starts the firewall engine on the host: it reads interface lists from the link
// engine's link.ListMembers, sums the fasttrack counters of every FastTrackCounters and
// FastTrackConns offered (at print time, so a fast path started later counts too) and
// offers its
// *DynamicRules to the engines started after it.
func Register(ctx context.Context, h *engine.Handle, opts Options) error {
	_, err := register(ctx, h, opts)
	return err
}

func register(ctx context.Context, h *engine.Handle, opts Options) (*Engine, error) {
	if opts.KernelName == nil {
		if n, ok := engine.Lookup[*link.Names](h); ok {
			opts.KernelName = n.Kernel
		}
	}
	if opts.IfLists == nil {
		if lists, ok := engine.Lookup[link.ListMembers](h); ok {
			opts.IfLists = lists
		}
	}
	if opts.FastTrack == nil {
		opts.FastTrack = func(v6 bool) Counter {
			var sum Counter
			for _, f := range engine.All[FastTrackCounters](h) {
				c := f(v6)
				sum.Packets += c.Packets
				sum.Bytes += c.Bytes
			}
			return sum
		}
	}
	if opts.FastTrackConns == nil {
		opts.FastTrackConns = func(forget []ConnKey) (map[ConnKey]ConnFastTrack, error) {
			sum := map[ConnKey]ConnFastTrack{}
			for _, f := range engine.All[FastTrackConns](h) {
				got, err := f(forget)
				if err != nil {
					return nil, err
				}
				for k, c := range got {
					s := sum[k]
					for d := range s {
						s[d].Packets += c[d].Packets
						s[d].Bytes += c[d].Bytes
					}
					sum[k] = s
				}
			}
			return sum, nil
		}
	}
	e, err := start(ctx, h, opts)
	if err != nil {
		return nil, err
	}
	engine.Offer(h, e.Dynamic())
	engine.Offer(h, e.Marks())
	return e, nil
}

// HostEngine is the firewall on the engine host (cmd/routerd registers it with New).
// Its items decode through the menu schema (TypedItems). Passes run in the engine's own
// loop, which waits for an import's commits to settle (settle) and applies only the
// difference; the host's Reconcile asks that loop for a pass.
type HostEngine struct {
	opts Options
	e    *Engine
}

// New returns the firewall engine for the host.
func New(opts Options) *HostEngine { return &HostEngine{opts: opts} }

// Spec declares the firewall's menus. The periodic pass (DefaultResync) sends the kernel
// nothing when nothing changed, but first checks that the kernel still has routerd's
// tables and chains (Kernel.missingChains) and rebuilds a table changed behind its back.
func (he *HostEngine) Spec() engine.Spec {
	menus := []string{Root4, Root6}
	for p := range TypedItems() {
		menus = append(menus, p)
	}
	slices.Sort(menus)
	return engine.Spec{Name: "firewall", Menus: slices.Compact(menus)}
}

// Start starts the engine (Register).
func (he *HostEngine) Start(ctx context.Context, h *engine.Handle) error {
	e, err := register(ctx, h, he.opts)
	he.e = e
	return err
}

// Reconcile asks the engine's loop for a pass.
func (he *HostEngine) Reconcile(context.Context) error {
	if he.e != nil {
		he.e.poke()
	}
	return nil
}

// TypedItems is TypedItems (engine.Typed).
func (he *HostEngine) TypedItems() map[string]any { return TypedItems() }

// FastTrackComment is the comment of the dummy rule that shows fasttrack counters.
const FastTrackComment = "special dummy rule to show fasttrack counters"

func (e *Engine) fastTrackDummy(v6 bool) DynamicRule {
	return DynamicRule{Table: "filter", Props: map[string]string{"chain": "forward", "action": "passthrough",
		"comment": FastTrackComment}, Counters: func() Counter {
		if e.opts.FastTrack == nil {
			return Counter{}
		}
		return e.opts.FastTrack(v6)
	}}
}
