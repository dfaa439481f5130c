package link

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

func running(a *netlink.LinkAttrs) bool {
	if a.OperState == netlink.OperUp {
		return true
	}
	return a.OperState == netlink.OperUnknown && a.RawFlags&unix.IFF_UP != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
}

// kind is the RouterOS type word of a link.
func kind(l netlink.Link) string {
	a := l.Attrs()
	switch t := l.Type(); t {
	case "device":
		switch a.EncapType {
		case "loopback":
			return "loopback"
		case "ether":
			return "ether"
		}
		return a.EncapType
	default:
		return t
	}
}

// ethernetLike: the links /interface/ethernet lists.
func ethernetLike(l netlink.Link) bool {
	t := l.Type()
	return t == "veth" || (t == "device" && l.Attrs().EncapType == "ether")
}

// queueDrops reads the drops of each link's root qdisc (tx-queue-drop), by ifindex.
func (e *Engine) queueDrops() map[int]uint64 {
	qs, err := e.h.QdiscList(nil)
	if err != nil {
		return nil
	}
	out := map[int]uint64{}
	for _, q := range qs {
		a := q.Attrs()
		if a.Parent == netlink.HANDLE_ROOT && a.Statistics != nil && a.Statistics.Queue != nil {
			out[a.LinkIndex] += uint64(a.Statistics.Queue.Drops)
		}
	}
	return out
}

// linkRunning is the R flag of a link: the kernel's carrier, unless an overlay decided
// (a tunnel's keepalive); the overlay's word is taken out of p.
func linkRunning(a *netlink.LinkAttrs, p map[string]string) bool {
	if v, ok := p["running"]; ok {
		delete(p, "running")
		return v == "yes"
	}
	return running(a)
}

// kernelProps are the read-only properties of a link as print shows them; claimed says
// an overlay supplied some (the link is another engine's, a tunnel).
func (e *Engine) kernelProps(l netlink.Link, qdrops map[int]uint64) (p map[string]string, claimed bool) {
	a := l.Attrs()
	name := e.nameOf(a)
	p = map[string]string{
		"name":       name,
		"type":       kind(l),
		"actual-mtu": strconv.Itoa(a.MTU),
		"mtu":        strconv.Itoa(a.MTU),
	}
	if len(a.HardwareAddr) == 6 {
		p["mac-address"] = strings.ToUpper(a.HardwareAddr.String())
	}
	if s := a.Statistics; s != nil {
		for k, v := range map[string]uint64{"rx-byte": s.RxBytes, "tx-byte": s.TxBytes, "rx-packet": s.RxPackets,
			"tx-packet": s.TxPackets, "rx-drop": s.RxDropped, "tx-drop": s.TxDropped, "rx-error": s.RxErrors, "tx-error": s.TxErrors} {
			p[k] = strconv.FormatUint(v, 10)
		}
	}
	p["tx-queue-drop"] = strconv.FormatUint(qdrops[a.Index], 10)
	claimed = e.applyOverlays(name, p)
	e.applyExtras(name, p)
	e.mu.Lock()
	if hs := e.hist[a.Name]; hs != nil {
		if !hs.lastUp.IsZero() {
			p["last-link-up-time"] = hs.lastUp.Format(time.DateTime)
		}
		if !hs.lastDown.IsZero() {
			p["last-link-down-time"] = hs.lastDown.Format(time.DateTime)
		}
		p["link-downs"] = strconv.Itoa(hs.downs)
	} else {
		p["link-downs"] = "0"
	}
	e.mu.Unlock()
	if a.MasterIndex != 0 {
		p["slave"] = "yes"
	}
	return p, claimed
}

// linkRows lists the links (ethernet-like ones only when ether) as print rows: a link with
// a configured /interface item gets that item's id, and its state is refreshed for the
// store's own row; the others are returned as rows of their own.
func (e *Engine) linkRows(ether bool) ([]control.Row, error) {
	ls, err := e.h.LinkList()
	if err != nil {
		return nil, control.Failure("cannot list links: %v", err)
	}
	items, err := e.ex.Items(IfacePath)
	if err != nil {
		return nil, err
	}
	byName := map[string]store.Item{}
	for _, it := range items {
		byName[it.Props["name"]] = it
	}
	etherItems, err := e.ex.Items(etherPath)
	if err != nil {
		return nil, err
	}
	ethers := indexEthers(etherItems)
	var cfgNames map[string]bool
	if err := e.ex.Store.View(func(tx *store.Tx) (err error) {
		cfgNames, err = configuredNames(e.ex, tx)
		return err
	}); err != nil {
		return nil, err
	}
	present := map[string]bool{}
	qdrops := e.queueDrops()
	var rows []control.Row
	for _, l := range ls {
		if ether && !ethernetLike(l) {
			continue
		}
		a := l.Attrs()
		name := e.nameOf(a)
		present[name] = true
		if e.hiddenLink(name) {
			continue
		}
		p, claimed := e.kernelProps(l, qdrops)
		if ether && claimed {
			continue // a tunnel's veth end, not an ethernet port
		}
		run := linkRunning(a, p)
		eit, isEther := ethers.of(name)
		isEther = isEther && ethernetLike(l)
		if ether && isEther {
			// A configured port is its stored item's row (so print shows its settings and
			// their status once); the kernel's view goes into the item's state.
			sp := map[string]string{}
			for k, v := range p {
				switch k {
				case "name", "type", "actual-mtu":
				default:
					sp[k] = v
				}
			}
			delete(sp, "mtu") // the configured value (or RouterOS's default) shows
			sp["default-name"] = orDefault(eit.Props["default-name"], name)
			sp["orig-mac-address"] = orDefault(eit.Props["orig-mac-address"], e.origMAC(sp["default-name"], a))
			st, _ := e.ex.State.Get(etherPath, eit.ID)
			e.ex.State.Set(etherPath, eit.ID, control.ItemState{Running: run, Invalid: st.Invalid, Status: st.Status, Props: sp})
			continue
		}
		if ethernetLike(l) && !claimed {
			// RouterOS's /interface shows an Ethernet port's default-name too, and its
			// exports rename ports by it (`/interface set [ find default-name=ether1 ]
			// name=ether1-WAN`).
			p["default-name"] = name
			if isEther {
				p["default-name"] = orDefault(eit.Props["default-name"], name)
			}
		}
		it, configured := byName[name]
		if isEther && !configured {
			// Shown in /interface with the port's settings, under the link's own id.
			for _, k := range []string{"mtu", "comment", "disabled"} {
				if v := eit.Props[k]; v != "" {
					p[k] = v
				}
			}
		}
		if ethernetLike(l) && !claimed && !isEther && !(configured && it.Props["mtu"] != "") {
			// A port no item configures runs RouterOS's default (keepPorts applies it).
			p["mtu"] = strconv.Itoa(portMTU)
		}
		if isEther && eit.Props["mtu"] == "" {
			p["mtu"] = strconv.Itoa(portMTU)
		}
		if configured && !ether {
			if it.Props["mtu"] != "" {
				delete(p, "mtu") // the configured value shows
			}
			e.ex.State.Set(IfacePath, it.ID, control.ItemState{Running: run, Props: p})
			continue
		}
		id := uint64(dynBase + a.Index)
		if configured {
			id = it.ID
			for _, k := range []string{"mtu", "comment", "disabled"} {
				if v := it.Props[k]; v != "" {
					p[k] = v
				}
			}
		}
		if ether {
			p["default-name"] = name
			p["orig-mac-address"] = e.origMAC(name, a)
			delete(p, "type")
			delete(p, "actual-mtu")
		}
		var fl []byte
		if !ether && dynamicLink(l, cfgNames, e.names) {
			fl = append(fl, 'D')
			p["dynamic"] = "yes"
		}
		if p["disabled"] == "yes" {
			fl = append(fl, 'X')
		}
		if run {
			fl = append(fl, 'R')
		}
		if p["slave"] == "yes" {
			fl = append(fl, 'S')
		}
		if p["disabled"] == "" {
			p["disabled"] = "no"
		}
		rows = append(rows, control.Row{ID: id, Props: p, Flags: string(fl)})
	}
	if !ether {
		for _, it := range items {
			if !present[it.Props["name"]] {
				e.ex.State.Set(IfacePath, it.ID, control.ItemState{Invalid: true, Status: "link not present"})
			}
		}
	}
	return rows, nil
}

func (e *Engine) ifaceRows(context.Context, *control.Session) ([]control.Row, error) {
	return e.linkRows(false)
}

func (e *Engine) etherRows(context.Context, *control.Session) ([]control.Row, error) {
	return e.linkRows(true)
}

// applyIfaces applies the settings of configured links that exist: mtu and up/down.
func (e *Engine) applyIfaces(cfg *config) {
	links := e.links()
	qdrops := e.queueDrops()
	ethers := indexEthers(cfg.rawEthers)
	for _, it := range cfg.ifaces {
		if _, ok := ethers.of(it.Name); ok {
			// The port's /interface ethernet item rules.
			e.setState(IfacePath, it.ID, false, "configured under /interface ethernet", nil)
			continue
		}
		l, ok := links[it.Name]
		if !ok {
			e.setState(IfacePath, it.ID, false, "link not present", nil)
			continue
		}
		mtu := it.MTU
		if mtu == "" && e.ownedPort(it.Name, l) {
			mtu = strconv.Itoa(portMTU)
		}
		if err := e.applyLinkSettings(l, mtu, it.Disabled); err != nil {
			e.setState(IfacePath, it.ID, false, err.Error(), nil)
			continue
		}
		p, _ := e.kernelProps(l, qdrops)
		e.setState(IfacePath, it.ID, linkRunning(l.Attrs(), p), "", p)
	}
}

// applyLinkSettings sets a link's MTU (when configured) and admin state.
func (e *Engine) applyLinkSettings(l netlink.Link, mtu string, disabled bool) error {
	a := l.Attrs()
	if n, err := strconv.Atoi(mtu); err == nil && n != a.MTU {
		if err := e.h.LinkSetMTU(l, n); err != nil {
			return control.Failure("could not set mtu %d: %v", n, err)
		}
	}
	up := a.Flags&1 != 0
	switch {
	case disabled && up:
		if err := e.h.LinkSetDown(l); err != nil {
			return control.Failure("could not disable: %v", err)
		}
	case !disabled && !up:
		if err := e.h.LinkSetUp(l); err != nil {
			return control.Failure("could not enable: %v", err)
		}
	}
	return nil
}

// registerCommands installs the write commands of /interface and /interface/ethernet (the
// rows are links, so the first write to a link creates its /interface item) and the
// interface-name checks of the menus that name links.
func (e *Engine) registerCommands() {
	for _, p := range []string{IfacePath, etherPath} {
		for _, cmd := range []string{"set", "unset", "enable", "disable", "comment"} {
			_, spec, ok := e.ex.Generic(IfacePath, cmd)
			if !ok {
				continue
			}
			e.ex.Handle(p, cmd, spec, e.writeLink(cmd))
		}
		_, spec, _ := e.ex.Generic(IfacePath, "get")
		e.ex.Handle(p, "get", spec, e.getLink)
	}
	e.ex.Handle(IfacePath, "monitor-traffic", control.CommandSpec{Positional: []string{"interface"},
		Flags: []string{"once", "as-value", "without-paging"}, Args: []string{"duration", "interval"}, Policy: "read", Effect: true}, e.monitorTraffic)

	checkNames(e.ex, portPath, nil, true, "interface")
	CheckNames(e.ex, vlanPath, nil, "interface")
	CheckNames(e.ex, bridgeVlanPath, func(a control.Arg) error {
		if a.Name == "vlan-ids" {
			if _, err := parseVids(a.Value); err != nil {
				return control.ArgError("invalid value for argument vlan-ids")
			}
		}
		return nil
	}, "tagged", "untagged")
	CheckNames(e.ex, mdbPath, checkMdbGroup, "ports")
	CheckNames(e.ex, listMemberPath, checkMember, "interface")
}

// CheckNames makes add and set of the menu at path refuse values of the given properties
// (comma lists of interface names) that name no interface, and arguments that extra (when
// not nil) refuses, before the generic command runs.
func CheckNames(ex *control.Executor, path string, extra func(control.Arg) error, props ...string) {
	checkNames(ex, path, extra, false, props...)
}

// checkNames is CheckNames; with lists, the name of an interface list is taken too
// (a bridge port's interface=: RouterOS 7 makes the list's members ports), and so are,
// as for the firewall's in-interface, a removed interface's id (*1A: removing it points
// the port at it, as RouterOS shows and exports the port) and, from a script file
// (control.Session.Import), a name no interface has: the box's own export names the
// interface a port was acknowledged with, and a plain /import of it must not stop
// there (issue 15). Such a port is kept, invalid: "interface ghost0 not present".
func checkNames(ex *control.Executor, path string, extra func(control.Arg) error, lists bool, props ...string) {
	for _, cmd := range []string{"add", "set"} {
		fn, spec, ok := ex.Generic(path, cmd)
		if !ok {
			continue
		}
		ex.Handle(path, cmd, spec, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
			err := ex.View(c.Sess, func(tx *store.Tx) error {
				for _, a := range c.S.Args {
					if extra != nil && !a.Flag && !a.Unset {
						if err := extra(a); err != nil {
							return err
						}
					}
					if a.Flag || a.Unset || !contains(props, a.Name) || a.Value == "" {
						continue
					}
					if lists && (StaleRef(a.Value) || c.Sess != nil && c.Sess.Import) {
						continue
					}
					for _, n := range strings.Split(a.Value, ",") {
						if !Known(ex, tx, n) && !(lists && isList(tx, n)) {
							return control.ArgError("input does not match any value of %s", a.Name)
						}
					}
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			return fn(ctx, c)
		})
	}
}

// isList reports whether name is an interface list (tx: the caller's transaction).
func isList(tx *store.Tx, name string) bool {
	if isBuiltinList(name) {
		return true
	}
	items, err := tx.List(listPath)
	if err != nil {
		return false
	}
	for _, it := range items {
		if it.Props["name"] == name {
			return true
		}
	}
	return false
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// targets resolves the numbers argument of a link command against the menu's rows:
// names, *ids, and print numbers (as print would number them).
func (e *Engine) targets(ctx context.Context, c *control.Call, ref string) ([]control.Row, error) {
	rows, err := e.ex.Rows(ctx, c.Sess, c.Menu, false)
	if err != nil {
		return nil, err
	}
	var out []control.Row
	for _, part := range strings.Split(ref, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		found := false
		for i, r := range rows {
			if r.Props["name"] == part || control.FormatID(r.ID) == strings.ToUpper(part) || strconv.Itoa(i) == part {
				out, found = append(out, r), true
				break
			}
		}
		if !found {
			return nil, control.ErrNoSuchItem
		}
	}
	return out, nil
}

// writeLink runs a generic write command (set, unset, enable, disable, comment) on links:
// the arguments are checked first, then each target link without an /interface item gets
// one (its name only), then the generic command runs on those items. A bad argument so
// creates nothing.
func (e *Engine) writeLink(cmd string) control.Handler {
	return func(ctx context.Context, c *control.Call) (*control.Reply, error) {
		im, _ := e.ex.Tree.Get(IfacePath)
		skip := map[string]bool{"numbers": true, ".id": true, "value-name": true}
		_, rename := c.S.Get("name")
		rename = rename && cmd == "set"
		if rename && c.Menu.Path == IfacePath {
			// RouterOS renames from /interface too (`/interface set ether1
			// name=ether1-gateway`): the link is renamed in its own menu, an Ethernet
			// port through /interface ethernet (found again by default-name), a bridge or
			// a tunnel through its item; a link no menu configures keeps its name.
			if r, err := e.etherRename(ctx, c); err != nil || r != nil {
				return r, err
			}
		}
		var origMAC net.HardwareAddr // orig-mac-address= as export verbose writes it
		if cmd == "comment" {
			skip["comment"] = true
		}
		for _, a := range c.S.Args {
			if skip[a.Name] || a.Flag {
				continue
			}
			p, ok := c.Menu.Prop(a.Name)
			if !ok {
				return nil, control.ArgError("unknown parameter %s", a.Name)
			}
			if p.ReadOnly && a.Name == "orig-mac-address" && c.Menu.Path == etherPath && cmd == "set" && !a.Unset {
				// RouterOS's `export verbose` writes it on every port. It stays read-only,
				// but the line loads: the port's own value is a no-op, and another (an
				// export taken on a different box, the usual migration) is logged and left,
				// so the port's name, MTU and the rest of the line still apply.
				mac, err := net.ParseMAC(a.Value)
				if err != nil {
					return nil, control.ArgError("invalid value for argument orig-mac-address")
				}
				origMAC = mac
				continue
			}
			if p.ReadOnly && !(rename && a.Name == "name") { // name: checked by the owning menu
				return nil, control.ArgError("failure: %s is read-only", a.Name)
			}
			if !a.Unset && !control.EmptyUnset(p, a.Value) {
				if _, err := control.ParseValue(p, a.Value); err != nil {
					return nil, err
				}
			}
		}
		if cmd == "unset" {
			vn, _ := c.S.Get("value-name")
			if p, ok := c.Menu.Prop(vn); !ok || p.ReadOnly {
				return nil, control.ArgError("input does not match any value of value-name")
			}
		}
		ref, ok := c.S.Get("numbers")
		if !ok {
			ref, ok = c.S.Get(".id")
		}
		if !ok {
			return nil, &control.Error{Msg: "expected item id", Category: control.CatMissing}
		}
		rows, err := e.targets(ctx, c, ref)
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			// RouterOS: a command on an empty list ([find] matched nothing) does nothing.
			return &control.Reply{Menu: c.Menu}, nil
		}
		if origMAC != nil {
			for _, r := range rows {
				if have, err := net.ParseMAC(r.Props["orig-mac-address"]); err != nil || !bytes.Equal(have, origMAC) {
					slog.Default().With("topic", "interface").Warn(fmt.Sprintf(
						"%s: orig-mac-address=%s is not this port's (%s); kept the port's own, applied the rest of the line",
						r.Props["name"], origMAC, r.Props["orig-mac-address"]))
				}
			}
		}
		if rename && c.Menu.Path == IfacePath && len(rows) != 1 {
			return nil, control.Failure("already have such name")
		}
		if newName, ok := c.S.Get("name"); ok && c.Menu.Path == etherPath {
			if len(rows) != 1 {
				return nil, control.Failure("already have such name")
			}
			if err := e.checkRename(c.Sess, rows[0], newName); err != nil {
				return nil, err
			}
		}
		var ids []string
		owners := map[string][]string{} // menu path → ids of the items that create the links
		var ownerPaths []string
		err = e.ex.Update(c.Sess, func(tx *store.Tx) ([]control.Change, error) {
			var chs []control.Change
			for _, r := range rows {
				name := r.Props["name"]
				if id, ok, ch, err := e.etherItem(tx, c.Menu.Path == etherPath, r); err != nil {
					return nil, err
				} else if ok {
					if owners[etherPath] == nil {
						ownerPaths = append(ownerPaths, etherPath)
					}
					owners[etherPath] = append(owners[etherPath], control.FormatID(id))
					chs = append(chs, ch...)
					continue
				}
				if path, id, ok := e.creator(tx, name); ok {
					if owners[path] == nil {
						ownerPaths = append(ownerPaths, path)
					}
					owners[path] = append(owners[path], control.FormatID(id))
					continue
				}
				if id, ok := tx.ByName(IfacePath, name); ok {
					ids = append(ids, control.FormatID(id))
					continue
				}
				id, err := tx.NextID(IfacePath)
				if err != nil {
					return nil, err
				}
				if err := tx.Put(IfacePath, store.Item{ID: id, Props: map[string]string{"name": name}}, 0); err != nil {
					return nil, err
				}
				ids = append(ids, control.FormatID(id))
				chs = append(chs, control.Change{Path: IfacePath, ID: id, Op: "add"})
			}
			return chs, nil
		})
		if err != nil {
			return nil, err
		}
		withIDs := func(ids []string) []control.Arg {
			args := []control.Arg{{Name: "numbers", Value: strings.Join(ids, ",")}}
			for _, a := range c.S.Args {
				if a.Name != "numbers" && a.Name != ".id" && (origMAC == nil || a.Name != "orig-mac-address") {
					args = append(args, a)
				}
			}
			return args
		}
		// A link that a menu creates keeps its settings in that menu's item, so export
		// writes them on the line that creates the link and import has them in order.
		for _, path := range ownerPaths {
			if path == etherPath {
				fn, _, _ := e.ex.Generic(IfacePath, cmd)
				em, _ := e.ex.Tree.Get(etherPath)
				if _, err := fn(ctx, &control.Call{Ex: e.ex, Sess: c.Sess, Menu: em,
					S: &control.Sentence{Path: etherPath, Cmd: cmd, Args: withIDs(owners[path])}}); err != nil {
					return nil, err
				}
				if to, ok := c.S.Get("name"); ok && cmd == "set" && len(rows) == 1 && rows[0].Props["name"] != to {
					if err := e.renameRefs(c.Sess, rows[0].Props["name"], to); err != nil {
						return nil, err
					}
				}
				continue
			}
			if _, err := e.ex.Exec(ctx, c.Sess, &control.Sentence{Path: path, Cmd: cmd, Args: withIDs(owners[path])}); err != nil {
				return nil, err
			}
		}
		if len(ids) == 0 {
			return &control.Reply{Menu: c.Menu}, nil
		}
		fn, _, _ := e.ex.Generic(IfacePath, cmd)
		return fn(ctx, &control.Call{Ex: e.ex, Sess: c.Sess, Menu: im,
			S: &control.Sentence{Path: IfacePath, Cmd: cmd, Args: withIDs(ids)}})
	}
}

// etherRename runs `/interface set X name=...` on an Ethernet port as `/interface
// ethernet set X name=...` (with the rest of the line); nil when X is no port.
func (e *Engine) etherRename(ctx context.Context, c *control.Call) (*control.Reply, error) {
	ref, ok := c.S.Get("numbers")
	if !ok {
		ref, ok = c.S.Get(".id")
	}
	if !ok {
		return nil, nil
	}
	rows, err := e.targets(ctx, c, ref)
	if err != nil || len(rows) != 1 {
		return nil, nil // the /interface path reports it
	}
	em, _ := e.ex.Tree.Get(etherPath)
	ports, err := e.ex.Rows(ctx, c.Sess, em, false)
	if err != nil {
		return nil, err
	}
	name := rows[0].Props["name"]
	for _, p := range ports {
		if p.Props["name"] != name {
			continue
		}
		args := []control.Arg{{Name: "numbers", Value: name}}
		for _, a := range c.S.Args {
			if a.Name != "numbers" && a.Name != ".id" {
				args = append(args, a)
			}
		}
		return e.writeLink("set")(ctx, &control.Call{Ex: e.ex, Sess: c.Sess, Menu: em,
			S: &control.Sentence{Path: etherPath, Cmd: "set", Args: args}})
	}
	return nil, nil
}

// creator finds the item of a menu under /interface that creates the link name (a
// bridge, VLAN or tunnel) and has the settings /interface writes (mtu, comment, disabled).
func (e *Engine) creator(tx *store.Tx, name string) (string, uint64, bool) {
	for _, m := range e.ex.Tree.All() {
		if !strings.HasPrefix(m.Path, "/interface/") || m.Kind != menu.List || m.NameProp() != "name" ||
			strings.HasPrefix(m.Path, listPath) {
			continue
		}
		if _, ok := m.Prop("mtu"); !ok || !m.HasDisabled() {
			continue
		}
		if id, ok := tx.ByName(m.Path, name); ok {
			return m.Path, id, true
		}
	}
	return "", 0, false
}

// getLink is get over link rows (which the store does not hold).
func (e *Engine) getLink(ctx context.Context, c *control.Call) (*control.Reply, error) {
	ref, _ := c.S.Get("number")
	rows, err := e.targets(ctx, c, ref)
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, control.ErrNoSuchItem
	}
	r := rows[0]
	name, _ := c.S.Get("value-name")
	if name == "" {
		return &control.Reply{Menu: c.Menu, Rows: rows}, nil
	}
	v, ok := r.Get(name)
	if !ok {
		if _, isProp := c.Menu.Prop(name); !isProp && name != "comment" {
			return nil, control.ArgError("input does not match any value of value-name")
		}
	}
	return &control.Reply{Menu: c.Menu, Ret: v}, nil
}

// monitorTraffic reports a link's traffic rates, each sample from the counters one
// interval apart. On a console (Sentence.Out set) without once it writes a sample every
// interval until ctx ends or duration= passes; for the API and REST (Sentence.Emit) it
// emits a row per sample the same way; otherwise it returns one sample (which the
// console also writes, as RouterOS prints `once`).
func (e *Engine) monitorTraffic(ctx context.Context, c *control.Call) (*control.Reply, error) {
	name, _ := c.S.Get("interface")
	interval := time.Second
	if v, ok := c.S.Get("interval"); ok {
		d, err := value.ParseDuration(v)
		if err != nil || d <= 0 || d > time.Minute {
			return nil, control.ArgError("invalid value for argument interval")
		}
		interval = d
	}
	if v, ok := c.S.Get("duration"); ok {
		d, err := value.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, control.ArgError("invalid value for argument duration")
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if CheckName(name) != nil {
		return nil, control.ArgError("input does not match any value of interface")
	}
	kname := e.names.Kernel(name)
	prev, err := e.h.LinkByName(kname)
	if err != nil {
		return nil, control.ArgError("input does not match any value of interface")
	}
	m := &menu.Menu{Path: c.Menu.Path, Kind: menu.Single}
	out, emit := c.S.Out, c.S.Emit
	if c.S.Bool("as-value") {
		out, emit = nil, nil // the values are the reply
	}
	if out != nil {
		emit = nil // the console draws the text itself
	}
	once := c.S.Bool("once") || (out == nil && emit == nil)
	t0 := time.Now()
	for {
		select {
		case <-ctx.Done():
			if once {
				return nil, ctx.Err()
			}
			return &control.Reply{Menu: m}, nil
		case <-time.After(interval):
		}
		cur, err := e.h.LinkByName(kname)
		if err != nil {
			return nil, control.Failure("%s disappeared", name)
		}
		now := time.Now()
		row, err := trafficRow(m, name, prev.Attrs().Statistics, cur.Attrs().Statistics, now.Sub(t0))
		if err != nil {
			return nil, err
		}
		rep := &control.Reply{Menu: m, Rows: []control.Row{row}}
		if emit != nil {
			if err := emit(rep); err != nil {
				return nil, err
			}
			if once {
				return &control.Reply{Menu: m}, nil
			}
			prev, t0 = cur, now
			continue
		}
		if out == nil {
			return rep, nil
		}
		script.Render(out, rep, c.S, 0)
		if once {
			return &control.Reply{Menu: m}, nil
		}
		io.WriteString(out, "\n")
		prev, t0 = cur, now
	}
}

// trafficRow is one monitor-traffic sample: the rates between two counter readings.
func trafficRow(m *menu.Menu, name string, s0, s1 *netlink.LinkStatistics, elapsed time.Duration) (control.Row, error) {
	if s0 == nil || s1 == nil {
		return control.Row{}, control.Failure("no counters for %s", name)
	}
	secs := elapsed.Seconds()
	rate := func(a, b uint64, mul float64) string {
		if b < a || secs <= 0 {
			return "0"
		}
		return strconv.FormatUint(uint64(float64(b-a)*mul/secs), 10)
	}
	p := map[string]string{
		"name":                     name,
		"rx-packets-per-second":    rate(s0.RxPackets, s1.RxPackets, 1),
		"rx-bits-per-second":       rate(s0.RxBytes, s1.RxBytes, 8),
		"rx-drops-per-second":      rate(s0.RxDropped, s1.RxDropped, 1),
		"rx-errors-per-second":     rate(s0.RxErrors, s1.RxErrors, 1),
		"tx-packets-per-second":    rate(s0.TxPackets, s1.TxPackets, 1),
		"tx-bits-per-second":       rate(s0.TxBytes, s1.TxBytes, 8),
		"tx-drops-per-second":      rate(s0.TxDropped, s1.TxDropped, 1),
		"tx-errors-per-second":     rate(s0.TxErrors, s1.TxErrors, 1),
		"fp-rx-packets-per-second": "0", "fp-tx-packets-per-second": "0",
	}
	keys := []string{"name", "rx-packets-per-second", "rx-bits-per-second", "fp-rx-packets-per-second",
		"rx-drops-per-second", "rx-errors-per-second", "tx-packets-per-second", "tx-bits-per-second",
		"fp-tx-packets-per-second", "tx-drops-per-second", "tx-errors-per-second"}
	return control.Row{Menu: m, Props: p, Keys: keys}, nil
}

// etherItem finds (or, for a write through /interface ethernet, creates) the
// /interface ethernet item of the port shown in row r. A new item takes over the
// settings of the port's /interface item, which goes, so one item rules the port.
func (e *Engine) etherItem(tx *store.Tx, create bool, r control.Row) (uint64, bool, []control.Change, error) {
	name := r.Props["name"]
	items, err := tx.List(etherPath)
	if err != nil {
		return 0, false, nil, err
	}
	if it, ok := indexEthers(items).of(name); ok {
		return it.ID, true, nil, nil
	}
	if !create {
		return 0, false, nil, nil
	}
	def := r.Props["default-name"]
	if def == "" {
		def = name
	}
	props := map[string]string{"name": name, "default-name": def}
	// The port's own MAC address, kept so that unsetting mac-address restores it after a
	// restart too (a veth reports no permanent address).
	if m := r.Props["orig-mac-address"]; m != "" {
		props["orig-mac-address"] = m
	} else if m := r.Props["mac-address"]; m != "" {
		props["orig-mac-address"] = m
	}
	var chs []control.Change
	if id, ok := tx.ByName(IfacePath, name); ok {
		old, err := tx.Get(IfacePath, id)
		if err != nil {
			return 0, false, nil, err
		}
		for _, k := range []string{"mtu", "comment", "disabled"} {
			if v, ok := old.Props[k]; ok {
				props[k] = v
			}
		}
		if err := tx.Delete(IfacePath, id); err != nil {
			return 0, false, nil, err
		}
		chs = append(chs, control.Change{Path: IfacePath, ID: id, Op: "remove"})
	}
	id, err := tx.NextID(etherPath)
	if err != nil {
		return 0, false, nil, err
	}
	if err := tx.Put(etherPath, store.Item{ID: id, Props: props}, 0); err != nil {
		return 0, false, nil, err
	}
	return id, true, append(chs, control.Change{Path: etherPath, ID: id, Op: "add"}), nil
}

// checkRename refuses a port name that another link or configured interface has.
func (e *Engine) checkRename(sess *control.Session, r control.Row, name string) error {
	if name == r.Props["name"] {
		return nil
	}
	if CheckName(name) != nil {
		return control.ArgError("invalid value for argument name")
	}
	if kernelSafe(name) && len(name) <= maxKernelName {
		if _, err := e.h.LinkByName(name); err == nil {
			return control.Failure("already have interface with such name")
		}
	}
	return e.ex.View(sess, func(tx *store.Tx) error {
		if names, err := configuredNames(e.ex, tx); err == nil && names[name] {
			return control.Failure("already have interface with such name")
		}
		return nil
	})
}

// renameRefs renames interface from to to in every stored property that names it
// (control.RenameIfaceRefs).
func (e *Engine) renameRefs(sess *control.Session, from, to string) error {
	return e.ex.Update(sess, func(tx *store.Tx) ([]control.Change, error) {
		return e.ex.RenameIfaceRefs(tx, from, to)
	})
}
