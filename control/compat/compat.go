package compat

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// Register installs the RouterOS 6 rewrites on ex.
func Register(ex *control.Executor) {
	ex.Migrate(menu.IPsecPeerPath, peer())
	ex.Migrate(menu.IPsecPolicyPath, policy)
	ex.Migrate(menu.Route4Path, route)
	ex.Migrate(menu.Route6Path, route)
	ex.Migrate(menu.EthernetPath, ethernet)
	ex.Migrate(menu.V6RouteRulePath, routeRule)
	ex.Migrate(menu.ManglePath, mangle)
	ex.Migrate(menu.Address4Path, address)
	ex.Migrate(menu.BridgePortPath, joinMasterBridge)
	ex.Migrate(menu.EmailPath, email)
	ex.Migrate(menu.ScriptPath, scriptPolicy)
	ex.Migrate(menu.SchedulerPath, scriptPolicy)
	ex.Rename(menu.V6PeerProfilePath, menu.IPsecProfilePath, func(s *control.Sentence) {
		slog.Info("RouterOS 6 menu mapped", "menu", menu.Console(menu.V6PeerProfilePath)[1:], "command", s.Cmd, "to", menu.Console(menu.IPsecProfilePath, s.Cmd))
	})
	ex.Rename(menu.V6UserSettingsPath, menu.IPsecSettingsPath, func(s *control.Sentence) {
		slog.Info("RouterOS 6 menu mapped", "menu", menu.Console(menu.V6UserSettingsPath)[1:], "command", s.Cmd, "to", menu.Console(menu.IPsecSettingsPath, s.Cmd))
	})
}

// mapped logs one mapped property.
func mapped(menuPath, prop, to string) {
	slog.Info("RouterOS 6 property mapped", "menu", menu.Console(menuPath)[1:], "property", prop, "to", to)
}

func peer() control.Migration {
	ident := map[string]bool{}
	for _, n := range menu.IPsecPeerV6Identity {
		ident[n] = true
	}
	prof := map[string]bool{}
	for _, n := range menu.IPsecPeerV6Profile {
		prof[n] = true
	}
	return func(ctx context.Context, ex *control.Executor, sess *control.Session, s *control.Sentence) (*control.Sentence, []*control.Sentence, error) {
		var keep, idArgs, profArgs []control.Arg
		changed := false
		for _, a := range s.Args {
			switch {
			case ident[a.Name]:
				changed = true
				name := a.Name
				switch name {
				case "xauth-login":
					name = "username"
				case "xauth-password":
					name = "password"
				}
				mapped(s.Path, a.Name, menu.Console(menu.IPsecIdentityPath, name))
				a.Name = name
				if name == "auth-method" && a.Value == "rsa-signature" {
					// The upgrade's name for v6's certificate authentication.
					mapped(s.Path, "auth-method=rsa-signature", "auth-method=digital-signature")
					a.Value = "digital-signature"
				}
				idArgs = append(idArgs, a)
			case prof[a.Name]:
				changed = true
				mapped(s.Path, a.Name, menu.Console(menu.IPsecProfilePath, a.Name))
				profArgs = append(profArgs, a)
			case a.Name == "exchange-mode" && a.Value == "main-l2tp":
				changed = true
				mapped(s.Path, "exchange-mode=main-l2tp", "exchange-mode=main")
				a.Value = "main"
				keep = append(keep, a)
			default:
				keep = append(keep, a)
			}
		}
		if !changed {
			return nil, nil, nil
		}
		if s.Cmd != "add" {
			if len(idArgs)+len(profArgs) > 0 {
				return nil, nil, control.ArgError("failure: RouterOS 6 peer properties are taken on add only (set them in /ip ipsec identity and profile)")
			}
			return &control.Sentence{Path: s.Path, Cmd: s.Cmd, Args: keep, Out: s.Out}, nil, nil
		}
		name, ok := s.Get("name")
		if !ok || name == "" {
			// The upgrade names v6's unnamed peers peer1, peer2 ...
			var err error
			if name, err = freeName(ex, sess, menu.IPsecPeerPath, "peer"); err != nil {
				return nil, nil, err
			}
			keep = append(keep, control.Arg{Name: "name", Value: name})
		}
		var after []*control.Sentence
		var before []*control.Sentence
		if len(profArgs) > 0 {
			pname := "profile-" + name
			if taken(ex, sess, menu.IPsecProfilePath, pname) {
				var err error
				if pname, err = freeName(ex, sess, menu.IPsecProfilePath, pname+"-"); err != nil {
					return nil, nil, err
				}
			}
			before = append(before, &control.Sentence{Path: menu.IPsecProfilePath, Cmd: "add",
				Args: append(profArgs, control.Arg{Name: "name", Value: pname})})
			out := keep[:0:0]
			for _, a := range keep {
				if a.Name != "profile" {
					out = append(out, a)
				}
			}
			keep = append(out, control.Arg{Name: "profile", Value: pname})
		}
		if len(idArgs) > 0 {
			after = append(after, &control.Sentence{Path: menu.IPsecIdentityPath, Cmd: "add",
				Args: append(idArgs, control.Arg{Name: "peer", Value: name})})
		}
		// The profile must exist before the peer names it.
		for _, b := range before {
			if _, err := ex.Exec(ctx, sess, b); err != nil {
				return nil, nil, err
			}
		}
		return &control.Sentence{Path: s.Path, Cmd: s.Cmd, Args: keep, Out: s.Out}, after, nil
	}
}

func taken(ex *control.Executor, sess *control.Session, path, name string) bool {
	found := false
	ex.View(sess, func(tx *store.Tx) error {
		_, found = tx.ByName(path, name)
		return nil
	})
	return found
}

// freeName is the first of base1, base2 ... that no item of the menu has.
func freeName(ex *control.Executor, sess *control.Session, path, base string) (string, error) {
	var out string
	err := ex.View(sess, func(tx *store.Tx) error {
		for n := 1; ; n++ {
			c := base + strconv.Itoa(n)
			if _, ok := tx.ByName(path, c); !ok {
				out = c
				return nil
			}
		}
	})
	return out, err
}

func policy(ctx context.Context, ex *control.Executor, sess *control.Session, s *control.Sentence) (*control.Sentence, []*control.Sentence, error) {
	_, hasSrc := s.Get("sa-src-address")
	_, hasDst := s.Get("sa-dst-address")
	if !hasSrc && !hasDst {
		return nil, nil, nil
	}
	// A policy that encrypts nothing (action=discard or none, the reference's "generic
	// IPsec policy") has no peer: v7 keeps its sa-src-address and sa-dst-address as
	// written. Only encrypting policies move to peer=, as the upgrade moves them.
	if enc, err := encrypts(ex, sess, s); err != nil || !enc {
		return nil, nil, err
	}
	var keep []control.Arg
	changed := false
	peerName, hasPeer := s.Get("peer")
	src := ""
	for _, a := range s.Args {
		switch a.Name {
		case "sa-src-address":
			changed = true
			src = a.Value
		case "sa-dst-address":
			changed = true
			if hasPeer {
				mapped(s.Path, a.Name, "the policy's peer (dropped)")
				continue
			}
			name, err := peerByAddress(ex, sess, a.Value)
			if err != nil {
				return nil, nil, err
			}
			if name == "" {
				return nil, nil, control.ArgError("failure: sa-dst-address %s: no /ip ipsec peer has this address", a.Value)
			}
			mapped(s.Path, a.Name, "peer="+name)
			keep = append(keep, control.Arg{Name: "peer", Value: name})
			peerName = name
		default:
			keep = append(keep, a)
		}
	}
	if !changed {
		return nil, nil, nil
	}
	var after []*control.Sentence
	if src != "" {
		// The upgrade moves the policy's SA source to the peer's local-address, so IKE
		// leaves from the address the remote end expects on a box with several.
		set, err := localAddress(ex, sess, peerName, src)
		if err != nil {
			return nil, nil, err
		}
		if set != nil {
			mapped(s.Path, "sa-src-address", "local-address="+src+" of peer "+peerName)
			after = append(after, set)
		} else {
			mapped(s.Path, "sa-src-address", "the peer's local-address (dropped: the peer has its own, or none is named)")
		}
	}
	return &control.Sentence{Path: s.Path, Cmd: s.Cmd, Args: keep, Out: s.Out}, after, nil
}

// localAddress is the command giving peer name the local-address src when the peer has
// none (nil when it has one, src is the wildcard, or no peer is named).
func localAddress(ex *control.Executor, sess *control.Session, name, src string) (*control.Sentence, error) {
	a, err := netip.ParseAddr(src)
	if err != nil {
		return nil, control.ArgError("invalid value for argument sa-src-address")
	}
	if name == "" || a.IsUnspecified() {
		return nil, nil
	}
	var set *control.Sentence
	err = ex.View(sess, func(tx *store.Tx) error {
		id, ok := tx.ByName(menu.IPsecPeerPath, name)
		if !ok {
			return nil
		}
		it, err := tx.Get(menu.IPsecPeerPath, id)
		if err != nil || it.Props["local-address"] != "" {
			return err
		}
		set = &control.Sentence{Path: menu.IPsecPeerPath, Cmd: "set", Args: []control.Arg{
			{Name: "numbers", Value: name}, {Name: "local-address", Value: a.String()}}}
		return nil
	})
	return set, err
}

// encrypts reports whether the policies s writes encrypt: its action=, else (set) the
// stored action of every target, else the default, encrypt.
func encrypts(ex *control.Executor, sess *control.Session, s *control.Sentence) (bool, error) {
	if a, ok := s.Get("action"); ok {
		return a == "encrypt", nil
	}
	if s.Cmd != "set" {
		return true, nil
	}
	ref, ok := s.Get("numbers")
	if !ok {
		ref, _ = s.Get(".id")
	}
	m, ok := ex.Tree.Get(s.Path)
	if !ok {
		return true, nil
	}
	enc := false
	err := ex.View(sess, func(tx *store.Tx) error {
		ids, err := ex.Resolve(tx, sess, m, ref)
		if err != nil {
			return err
		}
		for _, id := range ids {
			it, err := tx.Get(s.Path, id)
			if err != nil {
				return err
			}
			if a := it.Props["action"]; a == "" || a == "encrypt" {
				enc = true
			}
		}
		return nil
	})
	return enc, err
}

// peerByAddress names the peer whose address is ip (as a host prefix).
func peerByAddress(ex *control.Executor, sess *control.Session, ip string) (string, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", control.ArgError("invalid value for argument sa-dst-address")
	}
	var name string
	err = ex.View(sess, func(tx *store.Tx) error {
		items, err := tx.List(menu.IPsecPeerPath)
		if err != nil {
			return err
		}
		for _, it := range items {
			p, err := netip.ParsePrefix(it.Props["address"])
			if err != nil {
				if q, err := netip.ParseAddr(it.Props["address"]); err == nil {
					p = netip.PrefixFrom(q, q.BitLen())
				}
			}
			if p.IsValid() && p.IsSingleIP() && p.Addr() == a {
				name = it.Props["name"]
				return nil
			}
		}
		return nil
	})
	return name, err
}

func route(ctx context.Context, ex *control.Executor, sess *control.Session, s *control.Sentence) (*control.Sentence, []*control.Sentence, error) {
	var keep []control.Arg
	changed := false
	for _, a := range s.Args {
		switch a.Name {
		case "routing-mark":
			changed = true
			mapped(s.Path, a.Name, "routing-table")
			a.Name = "routing-table"
			keep = append(keep, a)
			// RouterOS 6 made a table of every routing mark; the upgrade adds them to
			// /routing table (fib=yes) before the routes that name them.
			if err := ensureTable(ctx, ex, sess, s.Path, a.Name, a.Value); err != nil {
				return nil, nil, err
			}
		case "type":
			changed = true
			switch a.Value {
			case "unicast":
				mapped(s.Path, "type=unicast", "(the default)")
			case "blackhole":
				mapped(s.Path, "type=blackhole", "blackhole=yes")
				keep = append(keep, control.Arg{Name: "blackhole", Value: "yes"})
			default:
				return nil, nil, control.ArgError("failure: type=%s has no RouterOS 7 equivalent here (only blackhole)", a.Value)
			}
		default:
			keep = append(keep, a)
		}
	}
	// RouterOS 6's gateway list (gateway=A,B) is equal-cost multipath; the upgrade makes a
	// route per gateway with the same distance, which routerd installs as one multipath
	// route.
	var after []*control.Sentence
	for i, a := range keep {
		if a.Name != "gateway" || !strings.Contains(a.Value, ",") {
			continue
		}
		if s.Cmd != "add" {
			return nil, nil, control.ArgError("failure: a RouterOS 6 gateway list is taken on add only (add a route per gateway)")
		}
		gws := strings.Split(a.Value, ",")
		changed = true
		mapped(s.Path, "gateway="+a.Value, "a route per gateway, equal distance (ECMP)")
		for _, g := range gws[1:] {
			args := slices.Clone(keep)
			args[i].Value = g
			after = append(after, &control.Sentence{Path: s.Path, Cmd: s.Cmd, Args: args})
		}
		keep = slices.Clone(keep)
		keep[i].Value = gws[0]
		break
	}
	if !changed {
		return nil, nil, nil
	}
	return &control.Sentence{Path: s.Path, Cmd: s.Cmd, Args: keep, Out: s.Out}, after, nil
}

// v6Speed and v6Advertise are RouterOS 6's words for ethernet speeds, with v7's.
var (
	v6Speed = map[string]string{"10Mbps": "10M-baseT-full", "100Mbps": "100M-baseT-full",
		"1Gbps": "1G-baseT-full", "2.5Gbps": "2.5G-baseT", "5Gbps": "5G-baseT", "10Gbps": "10G-baseT"}
	v6HalfSpeed = map[string]string{"10Mbps": "10M-baseT-half", "100Mbps": "100M-baseT-half", "1Gbps": "1G-baseT-half"}
	v6Advertise = map[string]string{"10M-half": "10M-baseT-half", "10M-full": "10M-baseT-full",
		"100M-half": "100M-baseT-half", "100M-full": "100M-baseT-full", "1000M-half": "1G-baseT-half",
		"1000M-full": "1G-baseT-full", "2500M-full": "2.5G-baseT", "5000M-full": "5G-baseT",
		"10000M-full": "10G-baseT"}
)

func ethernet(ctx context.Context, ex *control.Executor, sess *control.Session, s *control.Sentence) (*control.Sentence, []*control.Sentence, error) {
	changed := false
	var args []control.Arg
	var after []*control.Sentence
	for _, a := range s.Args {
		if a.Name != "master-port" {
			args = append(args, a)
			continue
		}
		changed = true
		ports, err := masterPort(ctx, ex, sess, s, a.Value)
		if err != nil {
			return nil, nil, err
		}
		after = append(after, ports...)
	}
	for i, a := range args {
		switch a.Name {
		case "speed":
			if v, ok := v6Speed[a.Value]; ok {
				if fd, _ := s.Get("full-duplex"); fd == "no" && v6HalfSpeed[a.Value] != "" {
					// v6 said duplex apart; v7's half-duplex speeds say it in the speed.
					v = v6HalfSpeed[a.Value]
				}
				mapped(s.Path, "speed="+a.Value, "speed="+v)
				args[i].Value, changed = v, true
			}
		case "advertise":
			parts := strings.Split(a.Value, ",")
			for j, p := range parts {
				if v, ok := v6Advertise[p]; ok {
					mapped(s.Path, "advertise "+p, v)
					parts[j], changed = v, true
				}
			}
			args[i].Value = strings.Join(parts, ",")
		}
	}
	if !changed {
		return nil, nil, nil
	}
	return &control.Sentence{Path: s.Path, Cmd: s.Cmd, Args: args, Out: s.Out}, after, nil
}

// ensureTable adds the /routing table a RouterOS 6 routing mark named (v6 made one of
// every mark implicitly; the upgrade adds them with fib), logging the mapping.
func ensureTable(ctx context.Context, ex *control.Executor, sess *control.Session, path, prop, name string) error {
	if _, ok := ex.Tree.Get(menu.RoutingTablePath); !ok || name == "main" || name == "" || taken(ex, sess, menu.RoutingTablePath, name) {
		return nil
	}
	mapped(path, prop+"="+name, menu.Console(menu.RoutingTablePath, "add", "name="+name, "fib"))
	_, err := ex.Exec(ctx, sess, &control.Sentence{Path: menu.RoutingTablePath, Cmd: "add",
		Args: []control.Arg{{Name: "name", Value: name}, {Name: "fib", Value: "yes"}}})
	return err
}

// routeRule rewrites RouterOS 6's /ip route rule add into /routing rule add, whose
// properties kept their names; the tables its routing-mark and table name are made
// first, as v6 had them implicitly.
func routeRule(ctx context.Context, ex *control.Executor, sess *control.Session, s *control.Sentence) (*control.Sentence, []*control.Sentence, error) {
	if s.Cmd != "add" {
		if !sess.Can("write") { // who may not write learns nothing more, as elsewhere
			return nil, nil, control.ErrPermission
		}
		return nil, nil, control.ArgError("failure: RouterOS 6 route rules are /routing rule items here: set them there")
	}
	var args []control.Arg
	for _, a := range s.Args {
		switch a.Name {
		case "routing-mark", "table":
			if err := ensureTable(ctx, ex, sess, s.Path, a.Name, a.Value); err != nil {
				return nil, nil, err
			}
		}
		mapped(s.Path, a.Name, menu.Console(menu.RoutingRulePath, a.Name))
		args = append(args, a)
	}
	if len(s.Args) == 0 {
		mapped(s.Path, "add", menu.Console(menu.RoutingRulePath, "add"))
	}
	return &control.Sentence{Path: menu.RoutingRulePath, Cmd: "add", Args: args, Out: s.Out}, nil, nil
}

// mangle makes the /routing table a RouterOS 6 rule marks routing for (new-routing-mark)
// or matches (routing-mark) before the rule names it: v6 made routing marks implicitly,
// before any route used them. The properties are v7's too, so this applies to a
// RouterOS 6 export only (control.Session.V6).
func mangle(ctx context.Context, ex *control.Executor, sess *control.Session, s *control.Sentence) (*control.Sentence, []*control.Sentence, error) {
	if !sess.V6 {
		// RouterOS 7 refuses a mark of a table that does not exist: a typo must not
		// make one. Only a v6 export's lines are read as v6 reads them.
		return nil, nil, nil
	}
	made := false
	for _, a := range s.Args {
		if a.Name != "new-routing-mark" && a.Name != "routing-mark" {
			continue
		}
		v := strings.TrimPrefix(a.Value, "!")
		if v == "" || v == "main" || taken(ex, sess, menu.RoutingTablePath, v) {
			continue
		}
		if err := ensureTable(ctx, ex, sess, s.Path, a.Name, v); err != nil {
			return nil, nil, err
		}
		made = true
	}
	if !made {
		return nil, nil, nil
	}
	// The rule itself, unchanged, in the same change as the table.
	return &control.Sentence{Path: s.Path, Cmd: s.Cmd, Args: s.Args, Out: s.Out}, nil, nil
}

// fromMasterPort is the comment RouterOS's upgrade gave the bridges it made of master
// ports; a routerd that did the same finds them by it.
const fromMasterPort = "created from master port"

// masterPort maps RouterOS 6's master-port=M on the ethernet ports s sets as the
// upgrade to 6.41 did: M and its slaves become ports of a bridge (bridge1, bridge2 ...,
// comment "created from master port", protocol-mode none) made for M, and M's addresses
// move to the bridge (address). It returns the bridge port adds.
func masterPort(ctx context.Context, ex *control.Executor, sess *control.Session, s *control.Sentence, master string) ([]*control.Sentence, error) {
	if master == "none" || master == "" {
		mapped(s.Path, "master-port=none", "(no bridge)")
		return nil, nil
	}
	if s.Cmd != "set" {
		return nil, control.ArgError("failure: master-port is taken on set only")
	}
	names, err := targets(ctx, ex, sess, s)
	if err != nil {
		return nil, err
	}
	if n, ok := s.Get("name"); ok && len(names) == 1 {
		// The same line renames the port (v6 exports write both): the port is added
		// after the rename, under the new name.
		names = []string{n}
	}
	br, err := masterBridge(ex, sess, master)
	if err != nil {
		return nil, err
	}
	var out []*control.Sentence
	if br == "" {
		if br, err = freeName(ex, sess, menu.BridgePath, "bridge"); err != nil {
			return nil, err
		}
		mapped(s.Path, "master-port="+master, menu.Console(menu.BridgePath, "add", "name="+br, "protocol-mode=none", "comment=\""+fromMasterPort+"\""))
		if _, err := ex.Exec(ctx, sess, &control.Sentence{Path: menu.BridgePath, Cmd: "add", Args: []control.Arg{
			{Name: "name", Value: br}, {Name: "protocol-mode", Value: "none"}, {Name: "comment", Value: fromMasterPort}}}); err != nil {
			return nil, err
		}
		mapped(s.Path, "master-port="+master, menu.Console(menu.BridgePortPath, "add", "bridge="+br, "interface="+master))
		out = append(out, bridgePort(br, master))
	}
	for _, n := range names {
		if n == master {
			continue
		}
		mapped(s.Path, "master-port="+master, menu.Console(menu.BridgePortPath, "add", "bridge="+br, "interface="+n))
		out = append(out, bridgePort(br, n))
	}
	return out, nil
}

func bridgePort(br, iface string) *control.Sentence {
	return &control.Sentence{Path: menu.BridgePortPath, Cmd: "add",
		Args: []control.Arg{{Name: "bridge", Value: br}, {Name: "interface", Value: iface}}}
}

// masterBridge is the bridge made from master port m ("" when none is yet).
func masterBridge(ex *control.Executor, sess *control.Session, m string) (string, error) {
	var br string
	err := ex.View(sess, func(tx *store.Tx) error {
		ports, err := tx.List(menu.BridgePortPath)
		if err != nil {
			return err
		}
		for _, p := range ports {
			if p.Props["interface"] != m {
				continue
			}
			id, ok := tx.ByName(menu.BridgePath, p.Props["bridge"])
			if !ok {
				continue
			}
			if b, err := tx.Get(menu.BridgePath, id); err == nil && b.Props["comment"] == fromMasterPort {
				br = b.Props["name"]
			}
		}
		return nil
	})
	return br, err
}

// targets are the names of the ports a set names: ethernet ports are rows of the
// kernel's links (names, *ids, print numbers), as the link engine resolves them.
func targets(ctx context.Context, ex *control.Executor, sess *control.Session, s *control.Sentence) ([]string, error) {
	ref, ok := s.Get("numbers")
	if !ok {
		ref, _ = s.Get(".id")
	}
	m, ok := ex.Tree.Get(s.Path)
	if !ok {
		return nil, nil
	}
	rows, err := ex.Rows(ctx, sess, m, false)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, part := range strings.Split(ref, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		found := false
		for i, r := range rows {
			if r.Props["name"] == part || control.FormatID(r.ID) == strings.ToUpper(part) || strconv.Itoa(i) == part {
				names, found = append(names, r.Props["name"]), true
				break
			}
		}
		if !found {
			return nil, control.ErrNoSuchItem
		}
	}
	return names, nil
}

// address moves an address RouterOS 6 put on a master port to the bridge the upgrade
// made of it (the master port is a bridge port now, which carries no address).
func address(_ context.Context, ex *control.Executor, sess *control.Session, s *control.Sentence) (*control.Sentence, []*control.Sentence, error) {
	ifc, ok := s.Get("interface")
	if !ok || ifc == "" {
		return nil, nil, nil
	}
	br, err := masterBridge(ex, sess, ifc)
	if err != nil {
		return nil, nil, err
	}
	how := "the bridge made from master port " + ifc
	if j := joined(sess, ifc); br == "" && j != "" && portOf(ex, sess, ifc) == j {
		// The master port joined the export's bridge a line earlier: its own address
		// line comes after, and goes where the upgrade put it.
		br, how = j, "the bridge master port "+ifc+" joined"
	}
	if br == "" {
		return nil, nil, nil
	}
	mapped(s.Path, "interface="+ifc, "interface="+br+" ("+how+")")
	args := append([]control.Arg(nil), s.Args...)
	for i := range args {
		if args[i].Name == "interface" {
			args[i].Value = br
		}
	}
	return &control.Sentence{Path: s.Path, Cmd: s.Cmd, Args: args, Out: s.Out}, nil, nil
}

// joined is the bridge of the export's that master port m joined in this session's
// import ("" when none).
func joined(sess *control.Session, m string) string {
	if sess == nil {
		return ""
	}
	return sess.V6Joined[m]
}

// portOf is the bridge whose port iface is ("" when none).
func portOf(ex *control.Executor, sess *control.Session, iface string) string {
	br := ""
	_ = ex.View(sess, func(tx *store.Tx) error {
		ports, err := tx.List(menu.BridgePortPath)
		for _, p := range ports {
			if p.Props["interface"] == iface {
				br = p.Props["bridge"]
			}
		}
		return err
	})
	return br
}

// v6StartTLS is RouterOS 6's /tool e-mail start-tls with v7's tls for it: v6's yes
// upgraded the connection with STARTTLS, tls-only spoke TLS from the start.
var v6StartTLS = map[string]string{"no": "no", "yes": "starttls", "tls-only": "yes"}

// email rewrites RouterOS 6's /tool e-mail set address= start-tls= as v7's server= and
// tls=.
func email(_ context.Context, _ *control.Executor, _ *control.Session, s *control.Sentence) (*control.Sentence, []*control.Sentence, error) {
	changed := false
	args := make([]control.Arg, 0, len(s.Args))
	for _, a := range s.Args {
		switch a.Name {
		case "address":
			changed = true
			mapped(s.Path, "address", "server")
			a.Name = "server"
		case "start-tls":
			v, ok := v6StartTLS[a.Value]
			if !ok {
				return nil, nil, control.ArgError("invalid value for argument start-tls")
			}
			changed = true
			mapped(s.Path, "start-tls="+a.Value, "tls="+v)
			a.Name, a.Value = "tls", v
		}
		args = append(args, a)
	}
	if !changed {
		return nil, nil, nil
	}
	return &control.Sentence{Path: s.Path, Cmd: s.Cmd, Args: args, Out: s.Out}, nil, nil
}

// v6LoginPolicies are the user policies RouterOS 6 let a script or scheduler item list
// (exports of 6.3x write policy=ftp,reboot,read,write,policy,test,winbox,password,
// sniff,sensitive,api): they say how a user may log in, which means nothing to a
// script, and v7's scripts do not have them.
var v6LoginPolicies = map[string]bool{"local": true, "telnet": true, "ssh": true, "winbox": true,
	"web": true, "api": true, "dude": true, "tikapp": true}

// scriptPolicy drops the login policies from a RouterOS 6 script's or scheduler item's
// policy=, as the upgrade does, a log line each.
func scriptPolicy(_ context.Context, _ *control.Executor, _ *control.Session, s *control.Sentence) (*control.Sentence, []*control.Sentence, error) {
	changed := false
	args := make([]control.Arg, 0, len(s.Args))
	for _, a := range s.Args {
		if a.Name == "policy" && !a.Unset {
			var keep []string
			for _, p := range strings.Split(a.Value, ",") {
				if v6LoginPolicies[strings.TrimPrefix(p, "!")] {
					changed = true
					mapped(s.Path, "policy "+p, "(dropped: no script policy in RouterOS 7)")
					continue
				}
				keep = append(keep, p)
			}
			a.Value = strings.Join(keep, ",")
		}
		args = append(args, a)
	}
	if !changed {
		return nil, nil, nil
	}
	return &control.Sentence{Path: s.Path, Cmd: s.Cmd, Args: args, Out: s.Out}, nil, nil
}

// joinMasterBridge: a port added to bridge B that is the master port of a bridge made
// from master-port= (the export's ethernet lines come before its bridge ports) takes
// its slaves along into B and that bridge goes, as the upgrade put a switch group whose
// master was bridged into that bridge; the master's addresses move to B too. Without
// it the slaves stayed in a second bridge and the export's own port line was refused
// ("already have such interface").
func joinMasterBridge(ctx context.Context, ex *control.Executor, sess *control.Session, s *control.Sentence) (*control.Sentence, []*control.Sentence, error) {
	if s.Cmd != "add" {
		return nil, nil, nil
	}
	m, _ := s.Get("interface")
	b, _ := s.Get("bridge")
	x, err := masterBridge(ex, sess, m)
	if err != nil || x == "" || x == b || m == "" || b == "" {
		return nil, nil, err
	}
	var moves []*control.Sentence
	err = ex.View(sess, func(tx *store.Tx) error {
		addrs, err := tx.List(menu.Address4Path)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if a.Props["interface"] == x {
				mapped(s.Path, "interface="+m, "address "+a.Props["address"]+" from "+x+" to "+b)
				moves = append(moves, &control.Sentence{Path: menu.Address4Path, Cmd: "set", Args: []control.Arg{
					{Name: "numbers", Value: control.FormatID(a.ID)}, {Name: "interface", Value: b}}})
			}
		}
		ports, err := tx.List(menu.BridgePortPath)
		if err != nil {
			return err
		}
		for _, p := range ports {
			if p.Props["bridge"] != x {
				continue
			}
			id := control.FormatID(p.ID)
			if p.Props["interface"] == m {
				moves = append(moves, &control.Sentence{Path: menu.BridgePortPath, Cmd: "remove", Args: []control.Arg{{Name: "numbers", Value: id}}})
				continue
			}
			mapped(s.Path, "interface="+m, "port "+p.Props["interface"]+" from "+x+" to "+b+" (a slave of master port "+m+")")
			moves = append(moves, &control.Sentence{Path: menu.BridgePortPath, Cmd: "set", Args: []control.Arg{
				{Name: "numbers", Value: id}, {Name: "bridge", Value: b}}})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if sess != nil {
		if sess.V6Joined == nil {
			sess.V6Joined = map[string]string{}
		}
		sess.V6Joined[m] = b
	}
	mapped(s.Path, "interface="+m, menu.Console(menu.BridgePath, "remove", x, "(made from master port "+m+", joined to "+b+")"))
	moves = append(moves, &control.Sentence{Path: menu.BridgePath, Cmd: "remove", Args: []control.Arg{{Name: "numbers", Value: x}}})
	for _, mv := range moves {
		if _, err := ex.Exec(ctx, sess, mv); err != nil {
			return nil, nil, err
		}
	}
	// The port itself, unchanged, in the same change.
	return &control.Sentence{Path: s.Path, Cmd: s.Cmd, Args: s.Args, Out: s.Out}, nil, nil
}
