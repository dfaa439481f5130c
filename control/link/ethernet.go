package link

import (
	"net"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/routerd/routerd/control/store"
)

// Ethernet ports (/interface ethernet) keep their settings in items of their own, found
// by default-name, the name the port had when routerd first saw it: RouterOS exports
// `set [ find default-name=ether1 ] name=ether1-WAN mac-address=...`, and after the
// rename (and after a restart, when the kernel already has the new name) the item is
// found again by either name.

// etherItems indexes the ethernet items by their name and by their default-name.
type etherItems struct {
	byName, byDefault map[string]store.Item
}

func indexEthers(items []store.Item) etherItems {
	x := etherItems{byName: map[string]store.Item{}, byDefault: map[string]store.Item{}}
	for _, it := range items {
		x.byName[it.Props["name"]] = it
		if d := it.Props["default-name"]; d != "" {
			x.byDefault[d] = it
		}
	}
	return x
}

// of returns the item that configures the link called name: the one named so, else the
// one whose default-name it is, unless that item renames the link and another link has
// taken the new name meanwhile.
func (x etherItems) of(name string) (store.Item, bool) {
	if it, ok := x.byName[name]; ok {
		return it, true
	}
	it, ok := x.byDefault[name]
	return it, ok
}

// origMAC is the address a port had before routerd changed it: the permanent address
// the driver reports, else the one routerd saw first.
func (e *Engine) origMAC(def string, a *netlink.LinkAttrs) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.macs == nil {
		e.macs = map[string]string{}
	}
	if m, ok := e.macs[def]; ok {
		return m
	}
	m := a.PermHWAddr
	if len(m) != 6 || m.String() == "00:00:00:00:00:00" {
		m = a.HardwareAddr
	}
	if len(m) != 6 {
		return ""
	}
	e.macs[def] = strings.ToUpper(m.String())
	return e.macs[def]
}

// applyEthers renames ports and sets their MAC address, MTU and admin state. It runs
// first, so that bridges, ports and VLANs configured with the new names find them.
func (e *Engine) applyEthers(cfg *config) {
	links := e.links()
	for _, it := range cfg.ethers {
		want, def := it.Name, it.DefaultName
		l, ok := links[want]
		if !ok {
			// Renamed again: the link still has the name the last pass gave it. Asked
			// before default-name, which another link (a bridge) may have taken since
			// the port was renamed.
			l, ok = byIndex(links, e.etherIdx[it.ID])
			ok = ok && ethernetLike(l)
		}
		if !ok && def != "" {
			l, ok = links[def]
		}
		if !ok {
			e.setState(etherPath, it.ID, false, "link not present", nil)
			continue
		}
		if !ethernetLike(l) {
			e.setState(etherPath, it.ID, false, "a link named "+e.nameOf(l.Attrs())+" exists that is not an ethernet port", nil)
			continue
		}
		if def == "" {
			def = l.Attrs().Name
		}
		orig := it.OrigMAC
		if orig == "" {
			orig = e.origMAC(def, l.Attrs())
		}
		if kn := e.names.Kernel(want); l.Attrs().Name != kn {
			prev := e.nameOf(l.Attrs())
			// The kernel renames only links that are down; applyLinkSettings brings it
			// back up below.
			up := l.Attrs().Flags&net.FlagUp != 0
			if up {
				if err := e.h.LinkSetDown(l); err != nil {
					e.setState(etherPath, it.ID, false, "cannot rename: "+err.Error(), nil)
					continue
				}
			}
			if err := e.h.LinkSetName(l, kn); err != nil {
				reason := "cannot rename to " + want + ": " + err.Error()
				if up { // not left down under its old name
					if err := e.h.LinkSetUp(l); err != nil {
						reason += "; left down: " + err.Error()
					}
				}
				e.setState(etherPath, it.ID, false, reason, nil)
				continue
			}
			e.oldAlt[it.ID] = prev
			var err error
			if l, err = e.h.LinkByName(kn); err != nil {
				e.setState(etherPath, it.ID, false, err.Error(), nil)
				continue
			}
		}
		// An old name the kernel keeps marks the port, which is otherwise applied: it
		// is no reason to leave the renamed port down.
		var stale string
		if prev, ok := e.oldAlt[it.ID]; ok {
			if err := e.dropAltName(l, prev, want); err != nil {
				stale = err.Error()
			} else {
				delete(e.oldAlt, it.ID)
			}
		}
		if err := e.setAltName(l, want); err != nil {
			e.setState(etherPath, it.ID, false, err.Error(), nil)
			continue
		}
		mac := it.MAC
		if mac == "" {
			mac = orig
		}
		if mac != "" && !strings.EqualFold(l.Attrs().HardwareAddr.String(), mac) {
			hw, err := net.ParseMAC(mac)
			if err == nil {
				err = e.h.LinkSetHardwareAddr(l, hw)
			}
			if err != nil {
				e.setState(etherPath, it.ID, false, "mac-address: "+err.Error(), nil)
				continue
			}
			if l, err = e.h.LinkByName(e.names.Kernel(want)); err != nil {
				e.setState(etherPath, it.ID, false, err.Error(), nil)
				continue
			}
		}
		if err := e.applyLinkSettings(l, it.MTU, it.Disabled); err != nil {
			e.setState(etherPath, it.ID, false, err.Error(), nil)
			continue
		}
		if err := e.applyARP(l, it.ARP, it.ARPTimeout); err != nil {
			e.setState(etherPath, it.ID, false, err.Error(), nil)
			continue
		}
		e.etherIdx[it.ID] = l.Attrs().Index
		p, _ := e.kernelProps(l, nil)
		e.setState(etherPath, it.ID, running(l.Attrs()), stale, map[string]string{
			"mac-address": p["mac-address"], "orig-mac-address": orig, "default-name": def})
	}
}

// byIndex finds the link with ifindex idx (0: none).
func byIndex(links map[string]netlink.Link, idx int) (netlink.Link, bool) {
	if idx == 0 {
		return nil, false
	}
	for _, l := range links {
		if l.Attrs().Index == idx {
			return l, true
		}
	}
	return nil, false
}
