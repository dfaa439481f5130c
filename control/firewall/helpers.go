package firewall

import (
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/menu"
)

// ServicePortPath is RouterOS's menu of connection tracking helpers.
const ServicePortPath = menu.ServicePortPath

// Helper assigns one of the kernel's connection tracking helpers to new connections of a
// protocol to some ports (/ip firewall service-port), through an nftables ct helper
// object; the kernel's helper then follows the control connection (and its NAT helper
// rewrites it) and lets the connections it announces in as related.
type Helper struct {
	Kernel string // the kernel's helper name: ftp, tftp, irc, sip, pptp, RAS, Q.931
	Proto  byte   // unix.IPPROTO_TCP or IPPROTO_UDP
	Ports  string // RouterOS port syntax
}

// helperObj names a helper's ct helper object in routerd's table.
func (h Helper) objName() string {
	p := "tcp"
	if h.Proto == unix.IPPROTO_UDP {
		p = "udp"
	}
	return "helper/" + h.Kernel + "/" + p
}

// servicePortHelpers returns the helpers of a service-port item, or why it cannot apply
// (nil, nil: nothing to assign, as for the protocols the kernel always tracks).
func servicePortHelpers(name, ports string) ([]Helper, error) {
	tcp, udp := byte(unix.IPPROTO_TCP), byte(unix.IPPROTO_UDP)
	switch name {
	case "ftp":
		return []Helper{{"ftp", tcp, ports}}, nil
	case "tftp":
		return []Helper{{"tftp", udp, ports}}, nil
	case "irc":
		return []Helper{{"irc", tcp, ports}}, nil
	case "sip":
		return []Helper{{"sip", udp, ports}, {"sip", tcp, ports}}, nil
	case "h323":
		return []Helper{{"RAS", udp, "1719"}, {"Q.931", tcp, "1720"}}, nil
	case "pptp":
		return []Helper{{"pptp", tcp, "1723"}}, nil
	case "rtsp":
		return nil, fmt.Errorf("the kernel has no RTSP connection tracking helper: %w", ErrNotSupported)
	}
	return nil, nil
}

// ServicePortStatus is what print shows for the service ports that select no helper: the
// kernel tracks those protocols always.
func servicePortStatus(name string, disabled bool) string {
	switch name {
	case "udplite", "dccp", "sctp":
		if disabled {
			return "no effect here: the kernel tracks " + name + " always"
		}
	}
	return ""
}

// helperChains compiles the assignments: base chains on prerouting and output (after
// conntrack made the new entry, before it is confirmed) set the helper object on new
// connections of the helper's protocol and ports.
func helperChains(v6 bool, hs []Helper) []*ChainPlan {
	if len(hs) == 0 {
		return nil
	}
	var rules []RulePlan
	for _, h := range hs {
		m := one(l4proto(h.Proto, false)...)
		if h.Ports != "" {
			m = and(m, portMatch(h.Ports, 2))
		}
		var alts [][]expr.Any
		for _, es := range m {
			alts = append(alts, append(es, &expr.Objref{Type: int(nftables.ObjTypeCtHelper), Name: h.objName()}))
		}
		rules = append(rules, RulePlan{Exprs: alts})
	}
	f := nftables.ChainTypeFilter
	return []*ChainPlan{
		{Name: "helper-prerouting", Hook: nftables.ChainHookPrerouting, Prio: nftables.ChainPriorityFilter, Type: f, Rules: rules},
		{Name: "helper-output", Hook: nftables.ChainHookOutput, Prio: nftables.ChainPriorityFilter, Type: f, Rules: rules},
	}
}

// helperObjects are the ct helper objects of a family's plan.
func helperObjects(t *nftables.Table, hs []Helper) map[string]*nftables.NamedObj {
	l3 := uint16(unix.NFPROTO_IPV4)
	if t.Family == nftables.TableFamilyIPv6 {
		l3 = unix.NFPROTO_IPV6
	}
	out := map[string]*nftables.NamedObj{}
	for _, h := range hs {
		out[h.objName()] = &nftables.NamedObj{Table: t, Name: h.objName(), Type: nftables.ObjTypeCtHelper,
			Obj: &expr.CtHelper{Name: h.Kernel, L3Proto: l3, L4Proto: h.Proto}}
	}
	return out
}

// connectionTypeHelpers are the kernel helpers connection-type= names.
var connectionTypeHelpers = map[string][]string{
	"ftp": {"ftp"}, "tftp": {"tftp"}, "irc": {"irc"}, "sip": {"sip"}, "pptp": {"pptp"}, "h323": {"RAS", "Q.931"},
}

// ctStatusHelper is IPS_HELPER: the connection has a helper assigned.
const ctStatusHelper = 1 << 13

// connectionTypeMatch matches connections a helper follows. The kernel's ct helper
// expression never matches here (its name is not loaded for conntrack entries whose
// helper an object assigned), so the match is "has a helper, and its original
// direction is the protocol and a port the service port assigns that helper to" —
// the same connections, since routerd's service ports are the only assignments.
func connectionTypeMatch(cfg Config, name string, neg bool) (alt, error) {
	kernels, ok := connectionTypeHelpers[name]
	if !ok {
		return nil, fmt.Errorf("connection-type: the kernel has no %s helper: %w", name, ErrNotSupported)
	}
	var hs []Helper
	for _, h := range cfg.Helpers {
		if slices.Contains(kernels, h.Kernel) {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		return nil, fmt.Errorf("connection-type: service-port %s is disabled, so no connection has that type", name)
	}
	if neg && len(hs) > 1 {
		return nil, fmt.Errorf("connection-type: !%s is not translated: %w", name, ErrNotSupported)
	}
	status := []expr.Any{&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(ctStatusHelper), Xor: ne32(0)}}
	proto := &expr.Ct{Key: expr.CtKeyPROTOCOL, Register: 1, Direction: 0}
	dport := &expr.Ct{Key: expr.CtKeyPROTODST, Register: 1, Direction: 0}
	if neg {
		h := hs[0]
		noHelper := append(slices.Clone(status), &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ne32(0)})
		helper := append(slices.Clone(status), &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ne32(0)})
		otherProto := append(slices.Clone(helper), proto, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{h.Proto}})
		out := alt{noHelper, otherProto}
		if h.Ports != "" {
			sameProto := append(slices.Clone(helper), proto, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{h.Proto}})
			out = append(out, and(alt{sameProto}, portMatchLoad("!"+h.Ports, dport))...)
		}
		return out, nil
	}
	var out alt
	for _, h := range hs {
		base := append(slices.Clone(status), &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ne32(0)},
			proto, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{h.Proto}})
		a := alt{base}
		if h.Ports != "" {
			a = and(a, portMatchLoad(h.Ports, dport))
		}
		out = append(out, a...)
	}
	return out, nil
}

// ipv4OnlyHelper: the kernel's IRC and PPTP helpers exist only for IPv4.
func ipv4OnlyHelper(kernel string) bool { return kernel == "irc" || kernel == "pptp" }
