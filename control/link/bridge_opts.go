package link

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/value"
)

// Bridge and bridge-port options that the netlink library does not parse: the bridge's
// multicast router mode (IFLA_BR_MCAST_ROUTER) and the ports' isolated flag
// (IFLA_BRPORT_ISOLATED), spoken in raw rtnetlink.

// mcastRouterModes maps multicast-router to the kernel's mcast_router values.
var mcastRouterModes = map[string]uint8{"disabled": 0, "temporary-query": 1, "permanent": 2}

// errNoAttr: the kernel's answer lacks the attribute (a kernel without the option).
var errNoAttr = errors.New("attribute not reported by the kernel")

// bridgeMcastRouter reads a bridge's mcast_router.
func bridgeMcastRouter(index int) (uint8, error) {
	data, err := bridgeInfoData(index)
	if err != nil {
		return 0, err
	}
	if v := data[nl.IFLA_BR_MCAST_ROUTER]; len(v) == 1 {
		return v[0], nil
	}
	return 0, errNoAttr
}

// stpOpts are a bridge's spanning tree settings as the kernel keeps them: stp_state (0
// off, 1 the kernel's 802.1D STP), forward_delay and max_age in hundredths of a second,
// and the bridge priority.
type stpOpts struct {
	State, ForwardDelay, MaxAge uint32
	Priority                    uint16
}

// bridgeSTP reads a bridge's spanning tree settings.
func bridgeSTP(index int) (stpOpts, error) {
	data, err := bridgeInfoData(index)
	if err != nil {
		return stpOpts{}, err
	}
	u32 := func(t int) (uint32, bool) {
		v := data[t]
		if len(v) != 4 {
			return 0, false
		}
		return nl.NativeEndian().Uint32(v), true
	}
	var o stpOpts
	var ok1, ok2, ok3 bool
	o.State, ok1 = u32(nl.IFLA_BR_STP_STATE)
	o.ForwardDelay, ok2 = u32(nl.IFLA_BR_FORWARD_DELAY)
	o.MaxAge, ok3 = u32(nl.IFLA_BR_MAX_AGE)
	p := data[nl.IFLA_BR_PRIORITY]
	if !ok1 || !ok2 || !ok3 || len(p) != 2 {
		return o, errNoAttr
	}
	o.Priority = nl.NativeEndian().Uint16(p)
	return o, nil
}

// setBridgeSTP sets the spanning tree settings of a bridge, timers before the state (the
// kernel checks them against the STP ranges once STP runs).
func setBridgeSTP(index int, o stpOpts) error {
	data := nl.NewRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(nl.IFLA_BR_FORWARD_DELAY, nl.Uint32Attr(o.ForwardDelay))
	data.AddRtAttr(nl.IFLA_BR_MAX_AGE, nl.Uint32Attr(o.MaxAge))
	data.AddRtAttr(nl.IFLA_BR_PRIORITY, nl.Uint16Attr(o.Priority))
	data.AddRtAttr(nl.IFLA_BR_STP_STATE, nl.Uint32Attr(o.State))
	if err := setBridgeData(index, data); err != nil {
		return fmt.Errorf("set spanning tree: %w", err)
	}
	return nil
}

// setBridgeData sends only the given bridge options (IFLA_INFO_DATA) for a bridge.
func setBridgeData(index int, data *nl.RtAttr) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	linkInfo := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	linkInfo.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	linkInfo.AddChild(data)
	req.AddData(linkInfo)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// bridgeInfoData reads the IFLA_INFO_DATA attributes of a bridge, by type.
func bridgeInfoData(index int) (map[int][]byte, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if len(m) < msg.Len() {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[msg.Len():])
		if err != nil {
			return nil, err
		}
		for _, a := range attrs {
			if a.Attr.Type&^unix.NLA_F_NESTED != unix.IFLA_LINKINFO {
				continue
			}
			infos, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return nil, err
			}
			for _, info := range infos {
				if info.Attr.Type&^unix.NLA_F_NESTED != unix.IFLA_INFO_DATA {
					continue
				}
				data, err := nl.ParseRouteAttr(info.Value)
				if err != nil {
					return nil, err
				}
				out := map[int][]byte{}
				for _, d := range data {
					out[int(d.Attr.Type)] = d.Value
				}
				return out, nil
			}
		}
	}
	return nil, errNoAttr
}

// setBridgeMcastRouter sets only mcast_router on a bridge (sending the parsed link back
// would resend every option, which a kernel without VLAN filtering refuses whole).
func setBridgeMcastRouter(index int, mode uint8) error {
	data := nl.NewRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(nl.IFLA_BR_MCAST_ROUTER, []byte{mode})
	if err := setBridgeData(index, data); err != nil {
		return fmt.Errorf("set mcast_router: %w", err)
	}
	return nil
}

// portOpts are the per-port settings of a bridge port the engine applies: isolation
// (horizon), and the 802.1D STP path cost and priority.
type portOpts struct {
	Isolated bool
	Cost     uint32
	Priority uint16
}

// portOptions returns the options of every bridge port, by link index, from one
// AF_BRIDGE dump.
func portOptions() (map[int]portOpts, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	msg := nl.NewIfInfomsg(unix.AF_BRIDGE)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return nil, err
	}
	out := map[int]portOpts{}
	for _, m := range msgs {
		if len(m) < unix.SizeofIfInfomsg {
			continue
		}
		ans := nl.DeserializeIfInfomsg(m)
		attrs, err := nl.ParseRouteAttr(m[ans.Len():])
		if err != nil {
			return nil, err
		}
		for _, a := range attrs {
			if a.Attr.Type&^unix.NLA_F_NESTED != unix.IFLA_PROTINFO {
				continue
			}
			infos, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return nil, err
			}
			var o portOpts
			for _, info := range infos {
				switch v := info.Value; info.Attr.Type &^ unix.NLA_F_NESTED {
				case nl.IFLA_BRPORT_ISOLATED:
					o.Isolated = len(v) == 1 && v[0] != 0
				case nl.IFLA_BRPORT_COST:
					if len(v) == 4 {
						o.Cost = nl.NativeEndian().Uint32(v)
					}
				case nl.IFLA_BRPORT_PRIORITY:
					if len(v) == 2 {
						o.Priority = nl.NativeEndian().Uint16(v)
					}
				}
			}
			out[int(ans.Index)] = o
		}
	}
	return out, nil
}

// setPortSTP sets a bridge port's path cost and priority (the netlink library sets
// only the flag attributes of IFLA_PROTINFO).
func setPortSTP(index int, cost uint32, priority uint16) error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_BRIDGE)
	msg.Index = int32(index)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_PROTINFO|unix.NLA_F_NESTED, nil)
	info.AddRtAttr(nl.IFLA_BRPORT_COST, nl.Uint32Attr(cost))
	info.AddRtAttr(nl.IFLA_BRPORT_PRIORITY, nl.Uint16Attr(priority))
	req.AddData(info)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("set path cost %d, priority %d: %w", cost, priority, err)
	}
	return nil
}

// The bridge options RouterOS has that the kernel keeps in IFLA_INFO_DATA besides the
// ones above: ageing, the IGMP/MLD snooping querier and its timers, the learned-host
// limit and the forwarding of reserved group addresses. Timers are in hundredths of a
// second (USER_HZ); the kernel keeps them in jiffies, so what it reports back may be one
// hundredth off what was set (CONFIG_HZ=250), which counts as the same.
const (
	iflaBrFdbMaxLearned = 49 // IFLA_BR_FDB_MAX_LEARNED (Linux 6.8); not in the netlink library
	// groupFwdAll is every reserved group address the kernel lets a bridge forward:
	// 01:80:C2:00:00:00-0F but STP, pause and LACP (BR_GROUPFWD_RESTRICTED).
	groupFwdAll = 0xfff8
)

// bridgeOpt is one such option: its attribute, size in bytes, and value for an item.
type bridgeOpt struct {
	prop  string
	attr  int
	size  int
	timer bool // hundredths of a second
	val   func(it bridgeItem) uint64
}

// hundredths converts a RouterOS duration to hundredths of a second.
func hundredths(s string) uint64 {
	d, err := value.ParseDuration(s)
	if err != nil || d < 0 {
		return 0
	}
	return uint64(d.Milliseconds() / 10)
}

func flag(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func atou(s string) uint64 {
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

var bridgeOpts = []bridgeOpt{
	{"ageing-time", nl.IFLA_BR_AGEING_TIME, 4, true, func(it bridgeItem) uint64 { return hundredths(it.AgeingTime) }},
	{"forward-reserved-addresses", nl.IFLA_BR_GROUP_FWD_MASK, 2, false, func(it bridgeItem) uint64 { return flag(it.ForwardReserved) * groupFwdAll }},
	{"multicast-querier", nl.IFLA_BR_MCAST_QUERIER, 1, false, func(it bridgeItem) uint64 { return flag(it.MulticastQuerier) }},
	{"last-member-query-count", nl.IFLA_BR_MCAST_LAST_MEMBER_CNT, 4, false, func(it bridgeItem) uint64 { return atou(it.LastMemberQueryCount) }},
	{"startup-query-count", nl.IFLA_BR_MCAST_STARTUP_QUERY_CNT, 4, false, func(it bridgeItem) uint64 { return atou(it.StartupQueryCount) }},
	{"last-member-interval", nl.IFLA_BR_MCAST_LAST_MEMBER_INTVL, 8, true, func(it bridgeItem) uint64 { return hundredths(it.LastMemberInterval) }},
	{"membership-interval", nl.IFLA_BR_MCAST_MEMBERSHIP_INTVL, 8, true, func(it bridgeItem) uint64 { return hundredths(it.MembershipInterval) }},
	{"querier-interval", nl.IFLA_BR_MCAST_QUERIER_INTVL, 8, true, func(it bridgeItem) uint64 { return hundredths(it.QuerierInterval) }},
	{"query-interval", nl.IFLA_BR_MCAST_QUERY_INTVL, 8, true, func(it bridgeItem) uint64 { return hundredths(it.QueryInterval) }},
	{"query-response-interval", nl.IFLA_BR_MCAST_QUERY_RESPONSE_INTVL, 8, true, func(it bridgeItem) uint64 { return hundredths(it.QueryResponseInterval) }},
	{"startup-query-interval", nl.IFLA_BR_MCAST_STARTUP_QUERY_INTVL, 8, true, func(it bridgeItem) uint64 { return hundredths(it.StartupQueryInterval) }},
	{"igmp-version", nl.IFLA_BR_MCAST_IGMP_VERSION, 1, false, func(it bridgeItem) uint64 { return atou(it.IGMPVersion) }},
	{"mld-version", nl.IFLA_BR_MCAST_MLD_VERSION, 1, false, func(it bridgeItem) uint64 { return atou(it.MLDVersion) }},
	{"max-learned-entries", iflaBrFdbMaxLearned, 4, false, func(it bridgeItem) uint64 { return atou(it.MaxLearned) }}, // auto, unlimited: 0
}

// decodeOpt reads an attribute of the given size; false when its length is not that.
func decodeOpt(b []byte, size int) (uint64, bool) {
	if len(b) != size {
		return 0, false
	}
	switch size {
	case 1:
		return uint64(b[0]), true
	case 2:
		return uint64(nl.NativeEndian().Uint16(b)), true
	case 4:
		return uint64(nl.NativeEndian().Uint32(b)), true
	}
	return nl.NativeEndian().Uint64(b), true
}

func encodeOpt(v uint64, size int) []byte {
	switch size {
	case 1:
		return []byte{byte(v)}
	case 2:
		return nl.Uint16Attr(uint16(v))
	case 4:
		return nl.Uint32Attr(uint32(v))
	}
	return nl.Uint64Attr(v)
}

// bridgeOptChanges are the options of the bridge whose current attributes are cur that
// differ from the item's, by attribute; an option the kernel does not report (one older
// than the option) is left out.
func bridgeOptChanges(it bridgeItem, cur map[int][]byte) map[int][]byte {
	out := map[int][]byte{}
	for _, o := range bridgeOpts {
		have, ok := decodeOpt(cur[o.attr], o.size)
		if !ok {
			continue
		}
		want := o.val(it)
		if have == want || (o.timer && (have+1 == want || want+1 == have)) {
			continue
		}
		out[o.attr] = encodeOpt(want, o.size)
	}
	return out
}

// setBridgeOptions sends the given bridge options (IFLA_INFO_DATA attributes) at once.
func setBridgeOptions(index int, opts map[int][]byte) error {
	data := nl.NewRtAttr(nl.IFLA_INFO_DATA, nil)
	for _, a := range slices.Sorted(maps.Keys(opts)) {
		data.AddRtAttr(a, opts[a])
	}
	if err := setBridgeData(index, data); err != nil {
		return fmt.Errorf("set bridge options: %w", err)
	}
	return nil
}
