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
