package arp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// Path is the menu the engine applies.
const Path = menu.ARPPath

// dynBase is where the ids of kernel-learned rows start, far above stored items' ids.
const dynBase = 1 << 40

// Engine applies /ip arp.
type Engine struct {
	k  Kernel // kernel.go; a plan test sets a fake
	ex *control.Executor

	mu      sync.Mutex
	applied map[key]entry // permanent entries routerd installed
	dynIDs  map[string]uint64

	names *link.Names // RouterOS interface names <-> kernel link names (the link engine's)
}

type key struct {
	addr  netip.Addr
	index int
}

// entry is one configured item as applied.
type entry struct {
	id        uint64
	mac       net.HardwareAddr
	published bool
}

// New returns the engine; h is the netlink handle of the namespace to apply in (nil:
// the process's own).
func New(h *netlink.Handle) *Engine {
	if h == nil {
		h = &netlink.Handle{}
	}
	return &Engine{k: netlinkKernel{h}, applied: map[key]entry{}, dynIDs: map[string]uint64{}}
}

// Spec declares the menu.
func (e *Engine) Spec() engine.Spec { return engine.Spec{Name: "arp", Menus: []string{Path}} }

// Start registers the dynamic rows.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	e.ex = h.Ex
	e.names, _ = engine.Lookup[*link.Names](h)
	e.ex.Provide(Path, e.rows)
	e.ex.SetEngine(Path, "arp")
	return nil
}

// item is one /ip arp entry as configured, decoded through the menu schema.
type item struct {
	Address   netip.Addr `prop:"address"`
	Interface string     `prop:"interface"`
	MAC       string     `prop:"mac-address"`
	Published bool       `prop:"published"`
	Disabled  bool       `prop:"disabled"`
}

// TypedItems names the struct the menu's items decode into (engine.Typed).
func (e *Engine) TypedItems() map[string]any { return map[string]any{Path: item{}} }

// desired decodes the enabled items; an item that cannot be applied gets its reason.
func (e *Engine) desired(items []store.Item) (map[key]entry, map[uint64]string) {
	want := map[key]entry{}
	bad := map[uint64]string{}
	m, _ := e.ex.Tree.Get(Path)
	for _, it := range items {
		var c item
		if err := engine.Decode(m, it, &c); err != nil {
			bad[it.ID] = err.Error()
			continue
		}
		if c.Disabled {
			continue
		}
		if !c.Address.Is4() {
			bad[it.ID] = "invalid address"
			continue
		}
		link, err := e.k.LinkByName(e.names.Kernel(c.Interface))
		if err != nil {
			bad[it.ID] = "interface " + c.Interface + " not found"
			continue
		}
		// The kernel keeps a neighbour on a link without ARP (loopback, TUN, IP
		// tunnels) under 0.0.0.0 for every destination: one on lo sent all of the
		// router's own traffic to a foreign MAC address.
		if a := link.Attrs(); a.Flags&net.FlagLoopback != 0 || a.RawFlags&unix.IFF_NOARP != 0 || len(a.HardwareAddr) != 6 {
			bad[it.ID] = "interface " + c.Interface + " does not use ARP"
			continue
		}
		en := entry{id: it.ID, published: c.Published}
		if c.MAC != "" {
			if en.mac, err = net.ParseMAC(c.MAC); err != nil {
				bad[it.ID] = "invalid mac-address"
				continue
			}
		} else if !en.published {
			bad[it.ID] = "mac-address is needed unless published"
			continue
		}
		k := key{c.Address, link.Attrs().Index}
		if _, dup := want[k]; dup {
			bad[it.ID] = "another entry has this address on this interface"
			continue
		}
		want[k] = en
	}
	return want, bad
}

func neigh(k key, en entry) *netlink.Neigh {
	n := &netlink.Neigh{LinkIndex: k.index, Family: unix.AF_INET, IP: k.addr.AsSlice(), State: netlink.NUD_PERMANENT}
	if en.published {
		n.Flags = netlink.NTF_PROXY
	}
	if en.mac != nil && !en.published {
		n.HardwareAddr = en.mac
	}
	return n
}

// Reconcile installs the permanent entries that are missing or differ and removes the
// ones routerd installed that are no longer configured.
func (e *Engine) Reconcile(ctx context.Context) error {
	items, err := e.ex.Items(Path)
	if err != nil {
		return fmt.Errorf("read %s: %w", Path, err)
	}
	want, bad := e.desired(items)
	kern, err := e.k.NeighList()
	if err != nil {
		return fmt.Errorf("neighbour dump: %w", err)
	}
	proxies, err := e.k.NeighProxyList()
	if err != nil {
		return fmt.Errorf("proxy neighbour dump: %w", err)
	}
	have := map[key]netlink.Neigh{}
	for _, n := range append(kern, proxies...) {
		if a, ok := netip.AddrFromSlice(n.IP); ok {
			have[key{a.Unmap(), n.LinkIndex}] = n
		}
	}
	var errs []error
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, en := range want {
		n, ok := have[k]
		same := ok && n.State&netlink.NUD_PERMANENT != 0 && (n.Flags&netlink.NTF_PROXY != 0) == en.published &&
			(en.published || n.HardwareAddr.String() == en.mac.String())
		if !same {
			if old, was := e.applied[k]; was && old.published != en.published {
				if err := e.k.NeighDel(neigh(k, old)); err != nil && !gone(err) {
					bad[en.id] = "cannot remove the previous entry: " + err.Error()
					continue
				}
			}
			if err := e.k.NeighSet(neigh(k, en)); err != nil {
				bad[en.id] = "cannot install: " + err.Error()
				continue
			}
		}
		e.applied[k] = en
	}
	for k, en := range e.applied {
		if _, ok := want[k]; ok {
			continue
		}
		if err := e.k.NeighDel(neigh(k, en)); err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("remove %s: %w", k.addr, err))
			continue
		}
		delete(e.applied, k)
	}
	for _, it := range items {
		st := control.ItemState{Props: map[string]string{}}
		if why, ok := bad[it.ID]; ok {
			st.Invalid, st.Status = true, why
		} else if it.Props["disabled"] != "yes" {
			st.Props["complete"] = "yes"
			st.Props["status"] = "permanent"
		}
		e.ex.State.Set(Path, it.ID, st)
	}
	return errors.Join(errs...)
}

var nudNames = []struct {
	state int
	name  string
}{
	{netlink.NUD_PERMANENT, "permanent"}, {netlink.NUD_REACHABLE, "reachable"}, {netlink.NUD_STALE, "stale"},
	{netlink.NUD_DELAY, "delay"}, {netlink.NUD_PROBE, "probe"}, {netlink.NUD_FAILED, "failed"},
	{netlink.NUD_INCOMPLETE, "incomplete"}, {netlink.NUD_NOARP, "noarp"},
}

func nudName(s int) string {
	for _, n := range nudNames {
		if s&n.state != 0 {
			return n.name
		}
	}
	return "none"
}

// rows are the kernel's IPv4 neighbours that routerd did not install, as dynamic rows.
func (e *Engine) rows(context.Context, *control.Session) ([]control.Row, error) {
	kern, err := e.k.NeighList()
	if err != nil {
		return nil, control.Failure("neighbour dump: %v", err)
	}
	links, err := e.k.LinkList()
	if err != nil {
		// Rows without their interface would read as entries of no interface.
		return nil, control.Failure("link dump: %v", err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = e.names.Of(l.Attrs())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var rows []control.Row
	for _, n := range kern {
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok || n.State == netlink.NUD_NOARP {
			continue
		}
		k := key{a.Unmap(), n.LinkIndex}
		if _, mine := e.applied[k]; mine {
			continue
		}
		flags := "D"
		p := map[string]string{"address": k.addr.String(), "interface": names[n.LinkIndex],
			"status": nudName(n.State), "dynamic": "yes", "published": "no", "disabled": "no"}
		if len(n.HardwareAddr) > 0 {
			p["mac-address"] = strings.ToUpper(n.HardwareAddr.String())
			p["complete"] = "yes"
			flags += "C"
		}
		id, ok := e.dynIDs[fmt.Sprintf("%s/%d", k.addr, k.index)]
		if !ok {
			id = dynBase + uint64(len(e.dynIDs))
			e.dynIDs[fmt.Sprintf("%s/%d", k.addr, k.index)] = id
		}
		rows = append(rows, control.Row{ID: id, Props: p, Flags: flags})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	return rows, nil
}

// gone reports whether a neighbour delete failed because there is nothing to delete: the
// entry is not there, or its link is gone (re-created with a new index) and took it along.
func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV)
}
