package ipcfg

import (
	"context"
	"net/netip"
	"strconv"
	"strings"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/routing"
	"github.com/routerd/routerd/control/store"
)

// registerChecks puts the IP menus' own validation in front of the generic add and set:
// interface names, duplicate addresses, gateways, and the dst-network spelling.
func (e *Engine) registerChecks() {
	for _, v := range []int{4, 6} {
		e.wrap(addrPath(v), e.checkAddr(v))
		e.wrap(routePath(v), e.checkRoute(v))
	}
	e.wrap(PoolPath, e.checkPool)
}

// wrap runs check (which may rewrite the arguments) in the session's transaction, then
// the generic command with the checked arguments.
func (e *Engine) wrap(path string, check func(tx *store.Tx, cmd string, args []control.Arg) ([]control.Arg, error)) {
	for _, cmd := range []string{"add", "set"} {
		fn, spec, ok := e.ex.Generic(path, cmd)
		if !ok {
			continue
		}
		e.ex.Handle(path, cmd, spec, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
			var args []control.Arg
			err := e.ex.View(c.Sess, func(tx *store.Tx) error {
				var err error
				args, err = check(tx, cmd, append([]control.Arg(nil), c.S.Args...))
				return err
			})
			if err != nil {
				return nil, err
			}
			s := *c.S
			s.Args = args
			return fn(ctx, &control.Call{Ex: c.Ex, Sess: c.Sess, S: &s, Menu: c.Menu})
		})
	}
}

func (e *Engine) checkAddr(v int) func(tx *store.Tx, cmd string, args []control.Arg) ([]control.Arg, error) {
	return func(tx *store.Tx, cmd string, args []control.Arg) ([]control.Arg, error) {
		for i, a := range args {
			if a.Flag || a.Unset {
				continue
			}
			switch a.Name {
			case "interface":
				// An export names an interface removed since as *ID: the address is
				// kept, invalid, as RouterOS keeps it.
				if !link.Known(e.ex, tx, a.Value) && !link.StaleRef(a.Value) {
					return nil, control.ArgError("input does not match any value of interface")
				}
			case "address":
				val := a.Value
				switch {
				case v == 6 && !strings.Contains(val, "/"):
					val += "/64" // RouterOS' default IPv6 prefix length
				case v == 4 && !strings.Contains(val, "/"):
					val += "/32" // as RouterOS exports host addresses
				}
				p, err := netip.ParsePrefix(val)
				if err != nil || (v == 4) != p.Addr().Is4() {
					return nil, control.ArgError("invalid value for argument address")
				}
				if p.Addr().IsMulticast() || p.Addr().IsUnspecified() {
					return nil, control.ArgError("invalid value for argument address")
				}
				// Stored canonical (fd00:0::1 as fd00::1, as RouterOS prints it), so the
				// duplicate check finds an address by its spellings.
				args[i].Value = p.String()
			}
		}
		if cmd == "add" && !fromPool(args) && argValue(args, "disabled") != "yes" {
			if p, err := netip.ParsePrefix(argValue(args, "address")); err == nil {
				if err := e.duplicateAddr(tx, v, p.Addr(), argValue(args, "interface")); err != nil {
					return nil, err
				}
			}
		}
		return args, nil
	}
}

// argValue is the value of the last argument named name ("" when absent).
func argValue(args []control.Arg, name string) string {
	v := ""
	for _, a := range args {
		if a.Name == name && !a.Flag && !a.Unset {
			v = a.Value
		}
	}
	return v
}

// duplicateAddr refuses an address that an enabled item already has on the same
// interface. RouterOS (and Linux) let one address sit on several interfaces (a loopback
// and a point-to-point link), and keep disabled duplicates: real exports carry both. An
// address the OS configured (a dynamic row) is taken over by the item (applyAddrs), so an
// export loads on a box whose network configuration set the same address.
//
// The store's (interface, address) key index answers it with one lookup per spelling the
// address can have on an item (each prefix length, and none), so a line of an import of
// 10,000 addresses costs what it costs on an empty menu: a scan per line made that
// import quadratic (issue 15). A read-only transaction before any writable one built the
// index scans the menu once instead.
func (e *Engine) duplicateAddr(tx *store.Tx, v int, ip netip.Addr, iface string) error {
	path := addrPath(v)
	dup := func(it store.Item) bool {
		if it.Props["disabled"] == "yes" || it.Props["interface"] != iface {
			return false
		}
		p, err := netip.ParsePrefix(it.Props["address"])
		return err == nil && p.Addr() == ip
	}
	if !tx.Indexed(path, addrKeyProps) {
		items, err := tx.ListShared(path)
		if err != nil {
			return err
		}
		for _, it := range items {
			if dup(it) {
				return control.Failure("already have such address")
			}
		}
		return nil
	}
	for _, spelling := range addrSpellings(ip) {
		ids, err := tx.Lookup(path, addrKeyProps, []string{iface, spelling})
		if err != nil {
			return err
		}
		for _, id := range ids {
			it, err := tx.Get(path, id)
			if err != nil {
				return err
			}
			if dup(it) {
				return control.Failure("already have such address")
			}
		}
	}
	return nil
}

// addrKeyProps are the properties of the address menus' key index (duplicateAddr).
var addrKeyProps = []string{"interface", "address"}

// addrSpellings are the values an item's address= holding ip can have: checkAddr stores
// it with a prefix length, canonical (netip's form); a bare address is checked too.
func addrSpellings(ip netip.Addr) []string {
	out := make([]string, 0, ip.BitLen()+2)
	for l := 0; l <= ip.BitLen(); l++ {
		out = append(out, netip.PrefixFrom(ip, l).String())
	}
	return append(out, ip.String())
}

func (e *Engine) checkRoute(v int) func(tx *store.Tx, cmd string, args []control.Arg) ([]control.Arg, error) {
	return func(tx *store.Tx, cmd string, args []control.Arg) ([]control.Arg, error) {
		var dst netip.Prefix
		var gw gateway
		hasGw, blackhole := false, false
		out := args[:0]
		for _, a := range args {
			if a.Name == "dst-network" {
				a.Name = "dst-address" // the manual's GRE-over-IPsec example spells it so
			}
			if !a.Flag && !a.Unset {
				switch a.Name {
				case "dst-address":
					p, err := netip.ParsePrefix(a.Value)
					if ip, aerr := netip.ParseAddr(a.Value); aerr == nil && ip.Zone() == "" {
						// A bare address is a host route (dst-address=8.8.4.4).
						p, err = netip.PrefixFrom(ip, ip.BitLen()), nil
					}
					if err != nil || (v == 4) != p.Addr().Is4() {
						return nil, control.ArgError("invalid value for argument dst-address")
					}
					dst = p.Masked()
					a.Value = dst.String()
				case "gateway":
					g, err := parseGateway(a.Value)
					if err != nil || (g.ip.IsValid() && (v == 4) != g.ip.Is4()) {
						return nil, control.ArgError("invalid value for argument gateway")
					}
					if g.iface != "" && !link.Known(e.ex, tx, g.iface) {
						return nil, control.ArgError("input does not match any value of gateway")
					}
					if g.table != "" && !knownTable(tx, g.table) {
						return nil, control.ArgError("input does not match any value of gateway (no routing table %s)", g.table)
					}
					gw, hasGw = g, a.Value != ""
				case "blackhole":
					blackhole = a.Value == "yes" || a.Value == "true"
				}
			}
			out = append(out, a)
		}
		if gw.ip.IsValid() {
			if gw.ip.IsUnspecified() || gw.ip.IsMulticast() {
				return nil, control.ArgError("invalid value for argument gateway")
			}
			if dst.IsValid() && dst.IsSingleIP() && dst.Addr() == gw.ip {
				return nil, control.Failure("gateway is the route's own destination (route loop)")
			}
			if kern, err := e.localAddrs(family(v)); err == nil {
				for _, k := range kern {
					if k.prefix.Addr() == gw.ip {
						return nil, control.Failure("gateway %s is an address of this router (route loop)", gw.ip)
					}
				}
			}
		}
		if cmd == "add" && !hasGw && !blackhole {
			return nil, control.Failure("gateway not specified")
		}
		return out, nil
	}
}

// knownTable: the @table of a gateway names main (taken out by parseGateway), a /routing
// table item, or a kernel table by number, as routing-table= does.
func knownTable(tx *store.Tx, name string) bool {
	if n, err := strconv.Atoi(name); err == nil {
		return n > 0 && n < 1<<32-1
	}
	_, ok := tx.ByName(routing.TablePath, name)
	return ok
}

// fromPool reports whether the arguments take the address from a pool (the address is
// then only the host part, not installed here).
func fromPool(args []control.Arg) bool {
	for _, a := range args {
		if a.Name == "from-pool" && a.Value != "" {
			return true
		}
	}
	return false
}
