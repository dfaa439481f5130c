package esp

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// A none policy with a src-address (an exception carved out of a wider encrypt policy: src
// one LAN, dst one network) cannot have a throw route in Table as a none policy without a
// source has (throwable): a route does not select a source, and the throw would pass every
// source's packets to that destination, those of the wider policy's other sources too.
// While routerd runs its packets go into the device, are matched and sent on in the clear;
// while routerd is down they met the wider policy's backstop (rule 219 to BackstopTable,
// or Table's blackhole) and were held, which is not what the policies say (RouterOS:
// policies are matched top to bottom, the first that matches wins, none passes the packet
// unchanged). A rule selects the source as the policy does:
//
//	217: from <src> to <dst> [ipproto P] [sport S] [dport D] goto 225
//	225: nop
//
// It goes past the selector rules, the full tunnels' backstop rules (219), the catch-all
// (220) and the holds of the host's own traffic (222-223), on to the routing mark's rules
// and the main table, as a throw would: the forwarded sources' packets and the host's own
// from an address in src pass, while routerd runs and while it is down, the same way. It
// is made only where no earlier encrypt policy overlaps the none policy (their sources,
// destinations, protocols and ports all intersect): the earlier one takes those packets
// while routerd runs, and a rule cannot carve them out. Such a none policy stays held while
// routerd is down (fail-closed). The host's unbound lookups (from 0.0.0.0, ::) never match
// a rule with a source: the exceptions at 222 (ownRules) pass those. Like the backstops, the
// rules outlive the process while any backstop does, are adopted by the next Open, and go
// with the policy.
const (
	noneSkipPriority = 217
	noneEndPriority  = 225
)

// noneKey keys the rules above (nRules); a rule made here and the same rule listed by the
// kernel have one key.
func noneKey(r *netlink.Rule) string {
	return fmt.Sprintf("none %d %d goto %d %s", r.Priority, r.Family, r.Goto, ruleKey(r))
}

// isNoneRule says whether r, listed by the kernel, is one of the rules above.
func isNoneRule(r *netlink.Rule) bool {
	switch r.Priority {
	case noneSkipPriority:
		return r.Goto == noneEndPriority
	case noneEndPriority:
		return r.Table <= 0 && r.Goto < 0 && r.Src == nil && r.Dst == nil && r.IifName == "" && r.Mark == 0
	}
	return false
}

// noneRules are the rules above for the policies ps (in their order), by noneKey.
func noneRules(ps []Policy) map[string]*netlink.Rule {
	out := map[string]*netlink.Rule{}
	for i := range ps {
		p := &ps[i]
		if p.Dir != DirOut || p.Action != ActionNone || p.Src.Bits() == 0 || p.Src.Addr().Is4() != p.Dst.Addr().Is4() {
			continue
		}
		if overlapsEarlier(ps[:i], p) {
			continue
		}
		r := netlink.NewRule()
		r.Family = ipFamily(p.Dst.Addr().Is4())
		r.Priority, r.Goto = noneSkipPriority, noneEndPriority
		r.Src = prefixNet(p.Src.Masked())
		if p.Dst.Bits() > 0 {
			r.Dst = prefixNet(p.Dst.Masked())
		}
		ruleSelectors(r, p)
		out[noneKey(r)] = r
		end := netlink.NewRule()
		end.Family, end.Priority, end.Type, end.Table = r.Family, noneEndPriority, unix.FR_ACT_NOP, -1
		out[noneKey(end)] = end
	}
	return out
}

// overlapsEarlier says whether an encrypt policy of before (outbound) may select a packet p
// selects.
func overlapsEarlier(before []Policy, p *Policy) bool {
	for i := range before {
		q := &before[i]
		if q.Dir != DirOut || q.Action != ActionEncrypt || q.Dst.Addr().Is4() != p.Dst.Addr().Is4() {
			continue
		}
		if prefixesMeet(q.Src, p.Src) && prefixesMeet(q.Dst, p.Dst) && valuesMeet(q.Protocol, p.Protocol) &&
			valuesMeet(q.SrcPort, p.SrcPort) && valuesMeet(q.DstPort, p.DstPort) {
			return true
		}
	}
	return false
}

// prefixesMeet says whether a and b share an address; a prefix of length 0 (or none) is
// any address.
func prefixesMeet(a, b netip.Prefix) bool {
	return a.Bits() <= 0 || b.Bits() <= 0 || a.Masked().Overlaps(b.Masked())
}

// valuesMeet says whether two selectors' protocols or ports share a value (0: any).
func valuesMeet[T uint8 | uint16](a, b T) bool { return a == 0 || b == 0 || a == b }
