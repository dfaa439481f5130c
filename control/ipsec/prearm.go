package ipsec

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/ike/esp"
)

// Prearm installs, before any engine runs, the ESP data path's backstops for the stored
// policies that must never leave in the clear (enabled, not templates, action=encrypt,
// level require or unique): the IPsec engine starts after the engines that apply
// addresses, bridges and routes, so on a host that boots, with nothing of them in the
// kernel, those policies' packets would take the main table's routes in the clear until
// its first pass (qa12: 5.7 s, 212 packets). The data path adopts them when it opens, and
// its first policies remove those it does not want (a policy whose peer is not usable);
// an engine whose data path does not open removes them in its pass (clearBackstops). A
// configuration without such policies costs a read of the policy menu and nothing else;
// with them, the kernel path's probe (esp.Probe), which the engine makes anyway. A full
// tunnel whose src-address holds a stored /ip or /ipv6 address holds the router's own
// traffic from the start too (esp.PrearmBackstops): the addresses are not applied yet, so
// they are read from the store; the stored none policies go with the others, in their
// order, for the router's own traffic they pass.
// opts are the engine's (its ESP configuration).
func Prearm(ex *control.Executor, opts Options) error {
	m, ok := ex.Tree.Get(PolicyPath)
	if !ok {
		return nil
	}
	its, err := ex.Items(PolicyPath)
	if err != nil {
		return fmt.Errorf("read %s: %w", PolicyPath, err)
	}
	var ps []esp.Policy
	var encrypt bool
	for _, it := range its {
		var v policyItem
		if engine.Decode(m, it, &v) != nil || v.Disabled || v.Template || !v.SrcAddress.IsValid() ||
			!v.DstAddress.IsValid() || v.SrcAddress.Addr().Is4() != v.DstAddress.Addr().Is4() {
			continue
		}
		// None policies in their place too: one before a full tunnel passes the router's
		// own traffic to its destination (esp.PrearmBackstops).
		none := v.Action == "none"
		if !none && (v.Action != "" && v.Action != "encrypt" || v.Level == "use") {
			continue
		}
		proto, err := protoNumber(v.Protocol)
		if err != nil {
			continue
		}
		sport, err1 := portNumber("src-port", v.SrcPort)
		dport, err2 := portNumber("dst-port", v.DstPort)
		if err1 != nil || err2 != nil {
			continue
		}
		p := esp.Policy{ID: uint32(it.ID), Src: v.SrcAddress, Dst: v.DstAddress, Protocol: proto,
			SrcPort: sport, DstPort: dport, Dir: esp.DirOut, Action: esp.ActionEncrypt, Level: esp.LevelRequire}
		if none {
			p.Action = esp.ActionNone
		} else {
			encrypt = true
		}
		ps = append(ps, p)
	}
	if !encrypt {
		return nil
	}
	return esp.PrearmBackstops(opts.ESP, ps, storedAddrs(ex))
}

// storedAddrs are the enabled /ip address and /ipv6 address items' addresses, with
// their prefix lengths: the addresses engines apply them only after Prearm, and a full
// tunnel whose source holds one must hold the router's own traffic from the start
// (esp.PrearmBackstops). An IPv6 item with eui-64 gives its prefix (the address is
// somewhere in it). An item that does not read is left out: the addresses engine
// reports it.
func storedAddrs(ex *control.Executor) []netip.Prefix {
	var out []netip.Prefix
	for _, path := range []string{menu.Address4Path, menu.Address6Path} {
		m, ok := ex.Tree.Get(path)
		if !ok {
			continue
		}
		its, err := ex.Items(path)
		if err != nil {
			continue
		}
		for _, it := range its {
			var v struct {
				Address  string `prop:"address"`
				Disabled bool   `prop:"disabled"`
			}
			if engine.Decode(m, it, &v) != nil || v.Disabled {
				continue
			}
			a := v.Address
			switch {
			case strings.Contains(a, "/"):
			case path == menu.Address4Path:
				a += "/32"
			default:
				a += "/64"
			}
			if p, err := netip.ParsePrefix(a); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// clearBackstops removes the backstops an earlier run or Prearm left, for a pass whose
// data path does not open (no usable peer): only the data path would otherwise remove
// them, and the destinations of policies that no longer apply would stay unreachable.
func (e *Engine) clearBackstops() {
	if e.opts.NoDatapath || e.dpReady() {
		return
	}
	if err := e.opts.Do(func() error { return esp.ClearBackstops(e.opts.ESP) }); err != nil {
		e.log.Warn("ipsec: cannot remove the backstops left in the kernel", "err", err)
	}
}
