package routing

import (
	"encoding/binary"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/nldump"
)

// withTypes gives routerd's rules of a dump their type (unicast, blackhole,
// unreachable): the netlink library's RuleList leaves it out, so a drop or unreachable
// rule read back never matched the one asked for, and every pass added it again
// ("file exists") and removed it. The type comes from a second dump, by priority (each
// of routerd's drop and unreachable rules has a priority of its own; rules sharing one,
// the tables' mark rules, are all lookups).
func withTypes(fam int, rules []netlink.Rule) error {
	types, err := nldump.Retry(func() (map[int][]uint8, error) { return ruleTypes(fam) })
	if err != nil {
		return err
	}
	for i := range rules {
		if rules[i].Protocol != Proto {
			continue
		}
		ts := types[rules[i].Priority]
		if len(ts) == 0 {
			continue
		}
		same := true
		for _, t := range ts {
			same = same && t == ts[0]
		}
		if same {
			rules[i].Type = ts[0]
		}
	}
	return nil
}

// ruleTypes dumps the types of routerd's rules of a family, by priority.
func ruleTypes(fam int) (map[int][]uint8, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETRULE, unix.NLM_F_DUMP|unix.NLM_F_REQUEST)
	req.AddData(nl.NewIfInfomsg(fam))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWRULE)
	if err != nil {
		return nil, err
	}
	out := map[int][]uint8{}
	for _, m := range msgs {
		msg := nl.DeserializeRtMsg(m)
		attrs, err := nl.ParseRouteAttr(m[msg.Len():])
		if err != nil {
			return nil, err
		}
		prio, proto := 0, uint8(0)
		for _, a := range attrs {
			switch a.Attr.Type {
			case nl.FRA_PRIORITY:
				prio = int(binary.NativeEndian.Uint32(a.Value[0:4]))
			case nl.FRA_PROTOCOL:
				proto = a.Value[0]
			}
		}
		if proto == Proto {
			out[prio] = append(out[prio], msg.Type)
		}
	}
	return out, nil
}
