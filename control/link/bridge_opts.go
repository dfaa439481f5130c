package link

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
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
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if len(m) < msg.Len() {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[msg.Len():])
		if err != nil {
			return 0, err
		}
		for _, a := range attrs {
			if a.Attr.Type&^unix.NLA_F_NESTED != unix.IFLA_LINKINFO {
				continue
			}
			infos, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return 0, err
			}
			for _, info := range infos {
				if info.Attr.Type&^unix.NLA_F_NESTED != unix.IFLA_INFO_DATA {
					continue
				}
				data, err := nl.ParseRouteAttr(info.Value)
				if err != nil {
					return 0, err
				}
				for _, d := range data {
					if d.Attr.Type == nl.IFLA_BR_MCAST_ROUTER && len(d.Value) == 1 {
						return d.Value[0], nil
					}
				}
			}
		}
	}
	return 0, errNoAttr
}

// setBridgeMcastRouter sets only mcast_router on a bridge (sending the parsed link back
// would resend every option, which a kernel without VLAN filtering refuses whole).
func setBridgeMcastRouter(index int, mode uint8) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	linkInfo := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	linkInfo.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := linkInfo.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(nl.IFLA_BR_MCAST_ROUTER, []byte{mode})
	req.AddData(linkInfo)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("set mcast_router: %w", err)
	}
	return nil
}

// portIsolation returns the isolated flag of every bridge port, by link index, from one
// AF_BRIDGE dump.
func portIsolation() (map[int]bool, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	msg := nl.NewIfInfomsg(unix.AF_BRIDGE)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return nil, err
	}
	out := map[int]bool{}
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
			for _, info := range infos {
				if info.Attr.Type&^unix.NLA_F_NESTED == nl.IFLA_BRPORT_ISOLATED && len(info.Value) == 1 {
					out[int(ans.Index)] = info.Value[0] != 0
				}
			}
		}
	}
	return out, nil
}
