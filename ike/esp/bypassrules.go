package esp

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/vishvananda/netlink"
)

// Outer packets keep out of the steering table by their mark (BypassMark) only while
// nothing rewrites it, and the firewall's mark-routing in output does, on purpose: the
// reference's "Using different routing table" example marks IKE and ESP to send them
// over a backup uplink. A routing mark and the bypass cannot share the mark's routing
// field, so outer packets are also told apart by what they are: raw ESP and UDP from
// the IKE ports, sent by this host, jump over the steering rules to a no-op rule, and
// routing goes on from there with the /routing rules and the routing mark's table,
// never table 220. Rules:
//
//	214: not iif lo goto 216        forwarded packets are not ours: on to the steering
//	215: ipproto esp goto 221       (and udp sport 500, udp sport 4500)
//	216: nop
//	     ... the steering rules (per-policy ones, then RulePriority 220) ...
//	221: nop
//
// The jump cannot say "iif lo" itself: the kernel fills a rule's protocol and ports
// for locally generated packets only from the socket, not when the output hook
// re-routes a packet whose mark the firewall changed (fib_rule_requires_fldissect), so
// such a rule would never match there.
const (
	bypassLocal    = 214
	bypassPriority = 215
	bypassForward  = 216
	bypassTarget   = 221
)

// bypassRules are the rules above, for both families.
func (u *userspace) bypassRules() []*netlink.Rule {
	var out []*netlink.Rule
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		for _, prio := range []int{bypassForward, bypassTarget} {
			nop := netlink.NewRule()
			nop.Family, nop.Priority, nop.Type, nop.Table = fam, prio, unix.FR_ACT_NOP, -1
			out = append(out, nop)
		}
		fwd := netlink.NewRule()
		fwd.Family, fwd.Priority, fwd.Goto, fwd.Table = fam, bypassLocal, bypassForward, -1
		fwd.IifName, fwd.Invert = "lo", true
		out = append(out, fwd)
		jump := func(proto int, port uint16) *netlink.Rule {
			r := netlink.NewRule()
			r.Family, r.Priority, r.Goto, r.Table = fam, bypassPriority, bypassTarget, -1
			r.IPProto = proto
			if port != 0 {
				r.Sport = netlink.NewRulePortRange(port, port)
			}
			return r
		}
		out = append(out, jump(unix.IPPROTO_ESP, 0))
		for _, p := range u.cfg.IKEPorts {
			out = append(out, jump(unix.IPPROTO_UDP, p))
		}
	}
	return out
}

// addBypassRules installs bypassRules (replacing leftovers of an earlier run).
func (u *userspace) addBypassRules() error {
	for _, r := range u.bypassRules() {
		if err := u.replaceRule(r); err != nil {
			return err
		}
	}
	return nil
}

// delBypassRules removes them; it returns the ones the kernel refused to remove.
func (u *userspace) delBypassRules() error {
	var errs error
	for _, r := range u.bypassRules() {
		errs = errors.Join(errs, u.delRule(r))
	}
	return errs
}
