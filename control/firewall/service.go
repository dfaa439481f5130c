package firewall

import (
	"context"

	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/link"
)

// FastTrackCounters is the service the fast path offers the firewall: the packets and
// bytes of one family it forwarded for fasttracked connections (those whose conntrack
// mark has FastTrackMark), shown on the filter table's dummy fasttrack rule.
type FastTrackCounters func(v6 bool) Counter

// Register starts the firewall engine on the host: it reads interface lists from the link
// engine's link.ListMembers, sums the fasttrack counters of every FastTrackCounters
// offered (at print time, so a fast path started later counts too) and offers its
// *DynamicRules to the engines started after it.
func Register(ctx context.Context, h *engine.Handle, opts Options) error {
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
	e, err := Start(ctx, h.Ex, h.Metrics, opts)
	if err != nil {
		return err
	}
	engine.Offer(h, e.Dynamic())
	return nil
}

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
