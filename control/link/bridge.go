package link

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/value"
)

// bridgeMAC is the MAC address a bridge is created with: admin-mac with auto-mac=no, else
// (RouterOS's auto-mac) that of its first configured port whose link exists, else one
// derived from its name (locally administered). The kernel would give the bridge a random
// one and derive its IPv6 link-local address from it when it goes up, before any port
// joins (changing the MAC later does not change that address): so the bridge's
// link-local address would change at every cold start. Created with an address, the
// bridge keeps it when ports come and go.
func bridgeMAC(it bridgeItem, ports []portItem, links map[string]netlink.Link) net.HardwareAddr {
	if !it.AutoMAC && it.AdminMAC != "" {
		if hw, err := net.ParseMAC(it.AdminMAC); err == nil {
			return hw
		}
	}
	for _, p := range ports {
		if p.Bridge != it.Name || p.Disabled {
			continue
		}
		if l, ok := links[p.Interface]; ok && len(l.Attrs().HardwareAddr) == 6 {
			return slices.Clone(l.Attrs().HardwareAddr)
		}
	}
	h := fnv.New64a()
	h.Write([]byte("bridge\x00" + it.Name))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], h.Sum64())
	hw := net.HardwareAddr(b[:6])
	hw[0] = hw[0]&^0x01 | 0x02 // unicast, locally administered
	return hw
}

// applyBridges creates, updates and deletes the bridges routerd owns.
func (e *Engine) applyBridges(cfg *config) {
	links := e.links()
	want := map[string]bool{}
	for _, it := range cfg.bridges {
		name := it.Name
		want[name] = true
		l, ok := links[name]
		if ok && (!owned(l) || l.Type() != "bridge") {
			e.setState(bridgePath, it.ID, false, fmt.Sprintf("a link named %s exists that routerd did not create", name), nil)
			continue
		}
		vf, snoop := it.VlanFiltering, it.IGMPSnooping
		if !ok {
			// vlan-filtering is set afterwards: a kernel without bridge VLAN filtering
			// refuses the whole create otherwise, and the bridge is useful without it.
			br := &netlink.Bridge{LinkAttrs: netlink.NewLinkAttrs(), MulticastSnooping: &snoop}
			br.Name = e.names.Kernel(name)
			br.HardwareAddr = bridgeMAC(it, cfg.ports, links)
			if err := e.h.LinkAdd(br); err != nil {
				e.setState(bridgePath, it.ID, false, "cannot create bridge: "+err.Error(), nil)
				continue
			}
			if err := e.h.LinkSetAlias(br, ownerAlias); err != nil {
				reason := "cannot mark bridge: " + err.Error()
				if derr := e.h.LinkDel(br); derr != nil {
					reason += "; left unmarked: " + derr.Error()
				}
				e.setState(bridgePath, it.ID, false, reason, nil)
				continue
			}
			var err error
			if l, err = e.h.LinkByName(br.Name); err != nil {
				e.setState(bridgePath, it.ID, false, err.Error(), nil)
				continue
			}
		}
		if err := e.setAltName(l, name); err != nil {
			e.setState(bridgePath, it.ID, false, err.Error(), nil)
			continue
		}
		if mac := it.AdminMAC; !it.AutoMAC && mac != "" &&
			!strings.EqualFold(l.Attrs().HardwareAddr.String(), mac) {
			hw, err := net.ParseMAC(mac)
			if err == nil {
				err = e.h.LinkSetHardwareAddr(l, hw)
			}
			if err != nil {
				e.setState(bridgePath, it.ID, false, "admin-mac: "+err.Error(), nil)
				continue
			}
			if l, err = e.h.LinkByName(e.names.Kernel(name)); err != nil {
				e.setState(bridgePath, it.ID, false, err.Error(), nil)
				continue
			}
		}
		if b, isBr := l.(*netlink.Bridge); isBr {
			if (b.VlanFiltering != nil && *b.VlanFiltering != vf) || (b.VlanFiltering == nil && vf) {
				if err := e.h.BridgeSetVlanFiltering(l, vf); err != nil {
					reason := "vlan-filtering: " + err.Error()
					if errors.Is(err, unix.EOPNOTSUPP) {
						reason = "vlan-filtering is not supported by this kernel"
					}
					e.setState(bridgePath, it.ID, false, reason, nil)
					continue
				}
			}
			if b.MulticastSnooping == nil || *b.MulticastSnooping != snoop {
				// Only the one attribute: the parsed link would send back every bridge
				// option, and a kernel without VLAN filtering refuses the whole change.
				only := &netlink.Bridge{LinkAttrs: netlink.NewLinkAttrs()}
				only.Name, only.Index = b.Name, b.Index
				if err := e.h.BridgeSetMcastSnoop(only, snoop); err != nil {
					e.setState(bridgePath, it.ID, false, "igmp-snooping: "+err.Error(), nil)
					continue
				}
			}
			mode := mcastRouterModes[orDefault(it.MulticastRouter, "temporary-query")]
			if cur, err := e.h.BridgeMcastRouter(b.Index); err != nil || cur != mode {
				if err := e.h.SetBridgeMcastRouter(b.Index, mode); err != nil {
					e.setState(bridgePath, it.ID, false, "multicast-router: "+err.Error(), nil)
					continue
				}
			}
			want, err := stpOf(it)
			if err != nil {
				e.setState(bridgePath, it.ID, false, err.Error(), nil)
				continue
			}
			if cur, err := e.h.BridgeSTP(b.Index); err != nil || cur != want {
				if err := e.h.SetBridgeSTP(b.Index, want); err != nil {
					e.setState(bridgePath, it.ID, false, "protocol-mode: "+err.Error(), nil)
					continue
				}
			}
			cur, err := e.h.BridgeOptions(b.Index)
			if err != nil {
				e.setState(bridgePath, it.ID, false, "reading bridge options: "+err.Error(), nil)
				continue
			}
			if ch := bridgeOptChanges(it, cur); len(ch) > 0 {
				if err := e.h.SetBridgeOptions(b.Index, ch); err != nil {
					e.setState(bridgePath, it.ID, false, err.Error(), nil)
					continue
				}
			}
		}
		mtu := it.MTU
		if mtu == "auto" {
			mtu = ""
		}
		if err := e.applyLinkSettings(l, mtu, it.Disabled); err != nil {
			e.setState(bridgePath, it.ID, false, err.Error(), nil)
			continue
		}
		if err := e.applyARP(l, it.ARP, it.ARPTimeout); err != nil {
			e.setState(bridgePath, it.ID, false, err.Error(), nil)
			continue
		}
		p, _ := e.kernelProps(l, nil)
		e.setState(bridgePath, it.ID, running(l.Attrs()), "", map[string]string{
			"actual-mtu": p["actual-mtu"], "mac-address": p["mac-address"], "spanning-tree": spanningTree(it.ProtocolMode)})
	}
	for name, l := range links {
		if l.Type() == "bridge" && owned(l) && !want[name] {
			// No item is left to show it on: the pass's error, tried again next pass.
			if err := e.h.LinkDel(l); err != nil {
				e.passErr(fmt.Errorf("removing bridge %s: %w", name, err))
			}
		}
	}
}

// applyVlans creates, updates and deletes the VLAN interfaces routerd owns.
func (e *Engine) applyVlans(cfg *config) {
	links := e.links()
	want := map[string]bool{}
	for _, it := range cfg.vlans {
		name := it.Name
		want[name] = true
		parent, ok := links[it.Interface]
		if !ok {
			e.setState(vlanPath, it.ID, false, "interface "+it.Interface+" not present", nil)
			continue
		}
		vid, mtu := it.VlanID, it.MTU
		l, ok := links[name]
		if ok && (!owned(l) || l.Type() != "vlan") {
			e.setState(vlanPath, it.ID, false, fmt.Sprintf("a link named %s exists that routerd did not create", name), nil)
			continue
		}
		if ok {
			v := l.(*netlink.Vlan)
			if v.VlanId != vid || v.ParentIndex != parent.Attrs().Index {
				// The kernel cannot change either: recreate.
				if err := e.h.LinkDel(l); err != nil {
					e.setState(vlanPath, it.ID, false, "cannot recreate vlan: "+err.Error(), nil)
					continue
				}
				ok = false
			}
		}
		if !ok {
			v := &netlink.Vlan{LinkAttrs: netlink.NewLinkAttrs(), VlanId: vid}
			v.Name, v.ParentIndex = e.names.Kernel(name), parent.Attrs().Index
			if err := e.h.LinkAdd(v); err != nil {
				reason := "cannot create vlan: " + err.Error()
				if errors.Is(err, unix.EOPNOTSUPP) {
					reason = "VLAN interfaces are not supported by this kernel (no 8021q)"
				}
				e.setState(vlanPath, it.ID, false, reason, nil)
				continue
			}
			if err := e.h.LinkSetAlias(v, ownerAlias); err != nil {
				reason := "cannot mark vlan: " + err.Error()
				if derr := e.h.LinkDel(v); derr != nil {
					reason += "; left unmarked: " + derr.Error()
				}
				e.setState(vlanPath, it.ID, false, reason, nil)
				continue
			}
			var err error
			if l, err = e.h.LinkByName(v.Name); err != nil {
				e.setState(vlanPath, it.ID, false, err.Error(), nil)
				continue
			}
		}
		if err := e.setAltName(l, name); err != nil {
			e.setState(vlanPath, it.ID, false, err.Error(), nil)
			continue
		}
		if err := e.applyLinkSettings(l, strconv.Itoa(mtu), it.Disabled); err != nil {
			e.setState(vlanPath, it.ID, false, err.Error(), nil)
			continue
		}
		if err := e.applyARP(l, it.ARP, it.ARPTimeout); err != nil {
			e.setState(vlanPath, it.ID, false, err.Error(), nil)
			continue
		}
		e.setState(vlanPath, it.ID, running(l.Attrs()), "", map[string]string{"mac-address": strings.ToUpper(l.Attrs().HardwareAddr.String())})
	}
	for name, l := range links {
		if l.Type() == "vlan" && owned(l) && !want[name] {
			if err := e.h.LinkDel(l); err != nil {
				e.passErr(fmt.Errorf("removing vlan %s: %w", name, err))
			}
		}
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// maxPortCost is the largest path cost the kernel's 802.1D STP takes (BR_MAX_PATH_COST).
const maxPortCost = 65535

// kernelPortSTP is a port's path-cost and priority as the kernel's bridge takes them, or
// why they cannot be applied. RouterOS's port identifier is 802.1D-2004's: the priority
// (0..240 in steps of 16) in its top four bits, above a 12-bit port number. The kernel's
// keeps a 6-bit priority (0..63) above a 10-bit port number, so priority/4 puts the same
// value in the same bits of the identifier the bridges compare (128, RouterOS's default,
// is the kernel's default 32). The kernel's path costs are 802.1D-1998's, 1..65535: a
// larger one (port-cost-mode=long's costs of slow links) cannot be applied.
func kernelPortSTP(it portItem) (cost uint32, prio uint16, reason string) {
	if it.PathCost > maxPortCost {
		return 0, 0, fmt.Sprintf("path-cost %d cannot be applied: the kernel's spanning tree takes path costs of 1..%d", it.PathCost, maxPortCost)
	}
	return uint32(it.PathCost), uint16(it.Priority / 4), ""
}

// applyPorts enslaves configured ports to their bridges and releases, from bridges
// routerd owns, the ports no item names.
//
// horizon is RouterOS' split horizon: ports with the same value do not forward to each
// other. The kernel's bridge port isolation is one such group per bridge (isolated ports
// do not forward to each other, and do to the others), so the first horizon value of a
// bridge (in item order) is applied as isolation and a port with another value is
// invalid rather than forwarding where its configuration says it must not.
func (e *Engine) applyPorts(cfg *config) {
	links := e.links()
	listed := e.expandPorts(cfg, links)
	kopts, err := e.h.PortOptions()
	if err != nil {
		e.passErr(fmt.Errorf("reading bridge port flags: %w", err))
	}
	vlanFiltering := map[string]bool{}
	for _, b := range cfg.bridges {
		vlanFiltering[b.Name] = b.VlanFiltering
	}
	group := map[string]string{} // bridge → the horizon value applied as isolation
	want := map[string]bool{}
	// done reports how a port went: on its item, or for a list's member on the list's
	// item and in the member's dynamic row.
	done := func(it portItem, reason string, _ map[string]string) {
		if it.list == "" {
			e.setState(portPath, it.ID, false, reason, nil)
			return
		}
		listed.member(it, reason)
	}
	for _, it := range cfg.ports {
		if it.Disabled {
			done(it, "", nil)
			continue
		}
		brName := it.Bridge
		br, okB := links[brName]
		pl, okP := links[it.Interface]
		switch {
		case !okB || br.Type() != "bridge":
			done(it, "bridge "+brName+" not present", nil)
			continue
		case !okP:
			done(it, "interface "+it.Interface+" not present", nil)
			continue
		}
		if pl.Type() == "bridge" {
			// The kernel refuses a bridge as a port of a bridge with ELOOP ("too many
			// levels of symbolic links"), which says nothing to an operator.
			e.setState(portPath, it.ID, false, bridgeInBridge(cfg.ports, it), nil)
			continue
		}
		if reason := frameTypesReason(it.FrameTypes, vlanFiltering[brName], br, brName); reason != "" {
			done(it, reason, nil)
			continue
		}
		cost, prio, reason := kernelPortSTP(it)
		if reason != "" {
			done(it, reason, nil)
			continue
		}
		horizon := orDefault(it.Horizon, "none")
		if horizon != "none" {
			if g, ok := group[brName]; ok && g != horizon {
				done(it, fmt.Sprintf(
					"horizon %s cannot be applied: %s already uses horizon %s, and the kernel isolates one group of ports per bridge", horizon, brName, g), nil)
				continue
			}
			group[brName] = horizon
		}
		want[it.Interface] = true
		if pl.Attrs().MasterIndex != br.Attrs().Index {
			if err := e.h.LinkSetMaster(pl, br); err != nil {
				done(it, "cannot add port: "+err.Error(), nil)
				continue
			}
		}
		ko := kopts[pl.Attrs().Index]
		if iso := horizon != "none"; ko.Isolated != iso {
			if err := e.h.LinkSetIsolated(pl, iso); err != nil {
				done(it, "horizon: "+err.Error(), nil)
				continue
			}
		}
		if ko.Cost != cost || ko.Priority != prio {
			if err := e.h.SetPortSTP(pl, cost, prio); err != nil {
				done(it, "path-cost, priority: "+err.Error(), nil)
				continue
			}
		}
		done(it, "", nil)
	}
	listed.publish(e)
	ownedIdx := map[int]bool{}
	for _, l := range links {
		if l.Type() == "bridge" && owned(l) {
			ownedIdx[l.Attrs().Index] = true
		}
	}
	for name, l := range links {
		if m := l.Attrs().MasterIndex; m != 0 && ownedIdx[m] && !want[name] {
			if err := e.h.LinkSetNoMaster(l); err != nil {
				e.passErr(fmt.Errorf("releasing bridge port %s: %w", name, err))
			}
		}
	}
}

// bridgeInBridge says why port it, whose interface is a bridge, is not applied: the
// port that closes a loop of bridges (bA a port of bB, bB of bA) names the loop, the
// others that Linux does not bridge bridges.
func bridgeInBridge(ports []portItem, it portItem) string {
	// upOf: the bridge each interface is a port of, by the enabled ports before it.
	upOf := map[string]string{}
	for _, p := range ports {
		if p.ID == it.ID {
			break
		}
		if !p.Disabled {
			upOf[p.Interface] = p.Bridge
		}
	}
	chain := []string{it.Bridge}
	for at := it.Bridge; len(chain) <= len(ports); {
		up, ok := upOf[at]
		if !ok {
			break
		}
		chain = append(chain, up)
		if up == it.Interface {
			return fmt.Sprintf("bridge loop: %s would be a port of %s", it.Interface,
				strings.Join(chain, ", which is a port of "))
		}
		at = up
	}
	return fmt.Sprintf("%s is a bridge: Linux does not make a bridge a port of another bridge", it.Interface)
}

// vlanFlags is what one port has for one VLAN id.
type vlanFlags struct{ pvid, untagged bool }

// applyBridgeVlans converges the VLAN tables of the bridges routerd owns (their ports and
// the bridge itself): port PVIDs and the /interface bridge vlan entries, nothing else.
func (e *Engine) applyBridgeVlans(cfg *config) {
	links := e.links()
	current, err := e.h.BridgeVlanList()
	if err != nil {
		for _, v := range cfg.bvlans {
			e.setState(bridgeVlanPath, v.ID, false, "cannot read the bridges' VLAN tables: "+err.Error(), nil)
		}
		return
	}
	for _, bi := range cfg.bridges {
		br, ok := links[bi.Name]
		if !ok || !owned(br) {
			continue
		}
		bIdx := br.Attrs().Index
		desired := map[int]map[uint16]vlanFlags{}
		put := func(ix int, vid uint16, f vlanFlags) {
			if desired[ix] == nil {
				desired[ix] = map[uint16]vlanFlags{}
			}
			old, had := desired[ix][vid]
			if had && old.pvid {
				f.pvid, f.untagged = true, old.untagged || f.untagged
			}
			desired[ix][vid] = f
		}
		put(bIdx, uint16(bi.PVID), vlanFlags{pvid: true, untagged: true})
		ports := map[string]int{bi.Name: bIdx}
		untaggedOnly := map[string]bool{} // ports that admit no tagged frames: PVID only
		for _, p := range cfg.ports {
			pl, ok := links[p.Interface]
			if p.Bridge != bi.Name || p.Disabled || !ok || pl.Attrs().MasterIndex != bIdx {
				continue
			}
			ix := pl.Attrs().Index
			ports[p.Interface] = ix
			desired[ix] = map[uint16]vlanFlags{}
			if p.FrameTypes == "admit-only-untagged-and-priority-tagged" {
				untaggedOnly[p.Interface] = true
			}
			if p.FrameTypes != "admit-only-vlan-tagged" {
				put(ix, uint16(p.PVID), vlanFlags{pvid: true, untagged: true})
			}
		}
		var entries []entryState
		for _, v := range cfg.bvlans {
			if v.Bridge != bi.Name {
				continue
			}
			if v.Disabled {
				e.setState(bridgeVlanPath, v.ID, false, "", nil)
				continue
			}
			vids, err := parseVids(v.VlanIDs)
			if err != nil {
				e.setState(bridgeVlanPath, v.ID, false, err.Error(), nil)
				continue
			}
			var cur [2][]string
			var missing, refused []string
			for i, names := range [][]string{v.Tagged, v.Untagged} {
				key := [...]string{"tagged", "untagged"}[i]
				for _, n := range names {
					ix, ok := ports[n]
					if !ok {
						missing = append(missing, n)
						continue
					}
					if key == "tagged" && untaggedOnly[n] {
						refused = append(refused, n)
						continue
					}
					cur[i] = append(cur[i], n)
					for _, vid := range vids {
						put(ix, vid, vlanFlags{untagged: key == "untagged"})
					}
				}
			}
			reason := ""
			if len(missing) > 0 {
				reason = "not ports of " + bi.Name + ": " + strings.Join(missing, ",")
			}
			if len(refused) > 0 {
				reason = strings.TrimPrefix(reason+"; ", "; ") + "ports admitting only untagged frames cannot be tagged: " + strings.Join(refused, ",")
			}
			entries = append(entries, entryState{v.ID, reason, map[string]string{
				"current-tagged": strings.Join(cur[0], ","), "current-untagged": strings.Join(cur[1], ",")}})
		}
		// The entries' state is known once the kernel took (or refused) the VLANs: a
		// kernel without bridge VLAN filtering refuses every VLAN (EOPNOTSUPP), and the
		// entries must not show ports as current as if they were applied.
		var vlanErr error
		for _, ix := range slices.Sorted(maps.Keys(desired)) { // in order: a plan tests can read
			want := desired[ix]
			l := linkByIndex(links, ix)
			if l == nil {
				continue
			}
			self := ix == bIdx
			have := map[uint16]vlanFlags{}
			for _, info := range current[int32(ix)] {
				have[info.Vid] = vlanFlags{pvid: info.Flags&nl.BRIDGE_VLAN_INFO_PVID != 0, untagged: info.Flags&nl.BRIDGE_VLAN_INFO_UNTAGGED != 0}
			}
			for vid := range have {
				if _, ok := want[vid]; !ok {
					if err := e.h.BridgeVlanDel(l, vid, false, false, self, !self); err != nil && vlanErr == nil {
						vlanErr = err
					}
				}
			}
			for _, vid := range sortedVids(want) {
				f := want[vid]
				if h, ok := have[vid]; ok && h == f {
					continue
				}
				if err := e.h.BridgeVlanAdd(l, vid, f.pvid, f.untagged, self, !self); err != nil && vlanErr == nil {
					vlanErr = err
				}
			}
		}
		for _, st := range entries {
			switch {
			case errors.Is(vlanErr, unix.EOPNOTSUPP):
				e.setState(bridgeVlanPath, st.id, false,
					"not applied: this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING): "+vlanErr.Error(),
					map[string]string{"current-tagged": "", "current-untagged": ""})
			case vlanErr != nil:
				e.setState(bridgeVlanPath, st.id, false, "not applied: "+vlanErr.Error(),
					map[string]string{"current-tagged": "", "current-untagged": ""})
			default:
				e.setState(bridgeVlanPath, st.id, false, st.reason, st.props)
			}
		}
	}
}

// entryState is the state of one /interface bridge vlan entry before the kernel's answer.
type entryState struct {
	id     uint64
	reason string
	props  map[string]string
}

func linkByIndex(links map[string]netlink.Link, ix int) netlink.Link {
	for _, l := range links {
		if l.Attrs().Index == ix {
			return l
		}
	}
	return nil
}

func sortedVids(m map[uint16]vlanFlags) []uint16 {
	out := make([]uint16, 0, len(m))
	for v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// parseVids reads vlan-ids: ids and ranges ("10,20-25").
func parseVids(s string) ([]uint16, error) {
	var out []uint16
	for _, part := range splitList(s) {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 1 || b > 4094 || a > b {
			return nil, fmt.Errorf("invalid vlan-ids %q", part)
		}
		for v := a; v <= b; v++ {
			out = append(out, uint16(v))
		}
	}
	return out, nil
}

// frameTypesReason says why a port's frame-types cannot be applied. Without
// vlan-filtering RouterOS ignores frame-types, and so does the kernel's bridge; with it,
// the kernel filters by PVID and VLAN membership (applyBridgeVlans), which needs a bridge
// that has VLAN filtering in effect.
func frameTypesReason(ft string, vlanFiltering bool, br netlink.Link, name string) string {
	if ft == "" || ft == "admit-all" || !vlanFiltering {
		return ""
	}
	if b, ok := br.(*netlink.Bridge); ok && b.VlanFiltering != nil && *b.VlanFiltering {
		return ""
	}
	return "frame-types=" + ft + " needs vlan-filtering, which is not in effect on " + name
}

// stpOf is the kernel's spanning tree for a bridge item: protocol-mode none turns it
// off; stp, rstp and mstp run the kernel's STP (802.1D), the only one Linux has
// (RSTP and MSTP need a user-space daemon, mstpd, which this system does not ship).
func stpOf(it bridgeItem) (stpOpts, error) {
	o := stpOpts{State: 1, ForwardDelay: 1500, MaxAge: 2000, Priority: 0x8000}
	if orDefault(it.ProtocolMode, "rstp") == "none" {
		o.State = 0
	}
	for _, t := range []struct {
		prop, v string
		dst     *uint32
	}{{"forward-delay", it.ForwardDelay, &o.ForwardDelay}, {"max-message-age", it.MaxMessageAge, &o.MaxAge}} {
		if t.v == "" {
			continue
		}
		d, err := value.ParseDuration(t.v)
		if err != nil || d < 0 || d.Milliseconds()/10 > math.MaxUint32 {
			return o, fmt.Errorf("%s: %q is not a time", t.prop, t.v)
		}
		*t.dst = uint32(d.Milliseconds() / 10)
	}
	o.Priority = uint16(it.Priority)
	return o, nil
}

// spanningTree says what the kernel runs for protocol-mode, for print.
func spanningTree(mode string) string {
	switch orDefault(mode, "rstp") {
	case "none":
		return "none"
	case "stp":
		return "stp"
	}
	return "stp (802.1D: Linux has no " + orDefault(mode, "rstp") + "; a port forwards 2 x forward-delay after it comes up)"
}

// listedPorts are the port items that name an interface list, with how their members
// went.
type listedPorts struct {
	items  []portItem
	failed map[uint64][]string // list item → "member: reason"
	joined map[uint64]int      // list item → members made ports
	rows   []control.Row       // the members made ports, as dynamic rows
}

// expandPorts replaces, in cfg.ports, each enabled item whose interface= names an
// interface list (RouterOS 7 takes `/interface bridge port add interface=LAN`) by one
// item per member of the list, so that the members are ports of the bridge with the
// item's settings and follow the list: a member added to or removed from the list
// joins or leaves the bridge at the next pass. A member that an item names itself, that
// an earlier list item took, that is a bridge or the loopback is left out.
func (e *Engine) expandPorts(cfg *config, links map[string]netlink.Link) *listedPorts {
	out := &listedPorts{failed: map[uint64][]string{}, joined: map[uint64]int{}}
	listNames := map[string]bool{}
	for _, l := range cfg.lists {
		listNames[l.Name] = true
	}
	for _, b := range builtinLists {
		listNames[b] = true
	}
	isList := func(it portItem) bool { return links[it.Interface] == nil && listNames[it.Interface] }
	named := map[string]bool{}
	for _, it := range cfg.ports {
		if !isList(it) {
			named[it.Interface] = true
		}
	}
	var ls *lists
	taken := map[string]bool{}
	ports := make([]portItem, 0, len(cfg.ports))
	for _, it := range cfg.ports {
		if !isList(it) || it.Disabled {
			ports = append(ports, it)
			continue
		}
		if ls == nil {
			all := make([]netlink.Link, 0, len(links))
			for _, l := range links {
				all = append(all, l)
			}
			ls = newLists(cfg.lists, cfg.members, classify(all, cfg.names, e.hiddenLink, e.portIn(all), e.names))
		}
		it.list = it.Interface
		out.items = append(out.items, it)
		members := ls.resolve(it.Interface, map[string]bool{})
		for _, m := range slices.Sorted(maps.Keys(members)) {
			l := links[m]
			if l == nil || named[m] || taken[m] || l.Type() == "bridge" || l.Attrs().Flags&net.FlagLoopback != 0 {
				continue
			}
			taken[m] = true
			p := it
			p.Interface = m
			ports = append(ports, p)
		}
	}
	cfg.ports = ports
	return out
}

// member records how a list's member went as a port.
func (lp *listedPorts) member(it portItem, reason string) {
	if reason != "" {
		lp.failed[it.ID] = append(lp.failed[it.ID], it.Interface+": "+reason)
		return
	}
	lp.joined[it.ID]++
	lp.rows = append(lp.rows, control.Row{ID: listPortID + uint64(len(lp.rows)), Flags: "D", Props: map[string]string{
		"interface": it.Interface, "bridge": it.Bridge, "pvid": strconv.Itoa(it.PVID), "frame-types": it.FrameTypes,
		"horizon": orDefault(it.Horizon, "none"), "dynamic": "yes"}})
}

// listPortID is the first id of the dynamic rows of list members: above any stored item's.
const listPortID = 1 << 40

// publish sets the state of the list items (what their members did) and the dynamic rows.
func (lp *listedPorts) publish(e *Engine) {
	for _, it := range lp.items {
		st := control.ItemState{}
		switch f := lp.failed[it.ID]; {
		case len(f) > 0:
			// Invalid when no member could be made a port.
			st.Invalid, st.Status = lp.joined[it.ID] == 0, strings.Join(f, "; ")
		case lp.joined[it.ID] == 0:
			st.Status = "interface list " + it.list + " has no member that can be a port here"
		}
		e.ex.State.Set(portPath, it.ID, st)
	}
	e.mu.Lock()
	e.listPorts = lp.rows
	e.mu.Unlock()
}

// portRows are the dynamic rows of /interface bridge port (expandPorts).
func (e *Engine) portRows(context.Context, *control.Session) ([]control.Row, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.listPorts), nil
}
