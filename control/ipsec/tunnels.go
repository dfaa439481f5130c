package ipsec

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/tunnel"
	"github.com/routerd/routerd/dataplane"
	"github.com/routerd/routerd/ike"
	"github.com/routerd/routerd/ike/esp"
)

// tunnelMenu is a tunnel menu whose tunnels take an ipsec-secret, and the IP protocol
// of their packets (the transport-mode policy between the endpoints selects it).
type tunnelMenu struct {
	path  string
	proto uint8
}

// tunnelMenus are in tunnel.Menus's order (the index is part of the dynamic policies'
// ids); a tunnel kind without an outer protocol here takes no ipsec-secret.
var tunnelMenus = func() []tunnelMenu {
	protos := map[dataplane.Kind]uint8{dataplane.GRE: 47, dataplane.EoIP: 47, dataplane.IPIP: 4, dataplane.SixToFour: 41}
	var out []tunnelMenu
	for _, m := range tunnel.Menus {
		if p, ok := protos[m.Kind]; ok {
			out = append(out, tunnelMenu{m.Path, p})
		}
	}
	return out
}()

// tunnelPeer is what a tunnel's ipsec-secret adds: a dynamic peer with its identity and
// a transport-mode policy for the tunnel's packets between its endpoints.
type tunnelPeer struct {
	tunnel  string // the tunnel's name
	profile string // the default profile's name
	peer    *ike.PeerConfig
	policy  *policyInfo
}

// tunnelPolicyID keeps the dynamic policies' ids apart from stored ones (the data path
// sees the low 32 bits).
func tunnelPolicyID(menu int, id uint64) uint64 { return 0x60000000 | uint64(menu)<<24 | id&0xffffff }

// tunnelProposal is phase 2 of a tunnel's peer: sha1/aes128-cbc, as the reference says.
var tunnelProposal = proposalItem{AuthAlgorithms: []string{"sha1"}, EncAlgorithms: []string{"aes-128-cbc"},
	PFSGroup: "none", Lifetime: 30 * time.Minute}

// tunnelPeers decodes the tunnels that ask for encryption (e.mu held). The peer uses the
// default profile (prof, called profName; nil when it does not decode); its identity
// authenticates with the secret and generates no policy. A peer is identified by its
// address (the reference), so the tunnels to one remote address share one dynamic peer
// and identity, which carries the tunnels' transport policies (one per protocol: a GRE
// and an EoIP tunnel share theirs); a tunnel whose secret (or
// local address) differs from the first one's to that address is left out, and conflicts
// says why, by tunnel name (the tunnel engine shows it as the tunnel's status).
func (e *Engine) tunnelPeers(ctx context.Context, profName string, prof *profile, taken map[string]*ike.PeerConfig) (out []tunnelPeer, conflicts map[string]string) {
	e.retryTunnels = false
	ps, lt, err := espProposal(tunnelProposal)
	if err != nil {
		e.log.Warn("ipsec: tunnel proposal", "err", err)
		return nil, nil
	}
	type first struct {
		tunnel, secret string
		peer           *ike.PeerConfig
	}
	// The tunnels asking for encryption, each with its endpoints; the one that had a
	// remote address's peer in the last pass keeps it (a tunnel added later with another
	// secret must not take the peer from the one that works), the rest in menu order.
	type cand struct {
		mi            int
		it            store.Item
		name          string
		remote, local netip.Addr
	}
	var cands []cand
	for mi, tm := range tunnelMenus {
		its, _, err := e.items(tm.path)
		if err != nil {
			continue
		}
		for _, it := range its {
			p := it.Props
			if p["ipsec-secret"] == "" || p["disabled"] == "yes" {
				continue
			}
			name := p["name"]
			remote, local, err := e.tunnelEndpoints(ctx, p)
			if err != nil {
				e.retryTunnels = true // the address or route may come later
				e.warnOnce("tunnel "+name, fmt.Sprintf("ipsec: %s: ipsec-secret not applied: %v", name, err))
				continue
			}
			if prof == nil {
				e.warnOnce("tunnel "+name, "ipsec: "+name+": ipsec-secret not applied: the default profile is not usable")
				continue
			}
			cands = append(cands, cand{mi, it, name, remote, local})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		return e.tunnelOwners[cands[i].remote] == cands[i].name && e.tunnelOwners[cands[j].remote] != cands[j].name
	})
	byRemote := map[netip.Addr]first{}
	type polKey struct {
		remote netip.Addr
		proto  uint8
	}
	byPolicy := map[polKey]*policyInfo{}
	for _, c := range cands {
		mi, tm, it, name, remote, local := c.mi, tunnelMenus[c.mi], c.it, c.name, c.remote, c.local
		p := it.Props
		pc := byRemote[remote].peer
		switch f := byRemote[remote]; {
		case pc == nil:
			pc = e.tunnelPeer(name, remote, local, p["ipsec-secret"], prof, taken)
			byRemote[remote] = first{name, p["ipsec-secret"], pc}
		case f.secret != p["ipsec-secret"] || pc.Local != local:
			why := fmt.Sprintf("ipsec-secret differs from that of %s, which has the same remote-address %s (one IPsec peer per address)", f.tunnel, remote)
			if f.secret == p["ipsec-secret"] {
				why = fmt.Sprintf("local-address %s differs from %s of %s, which has the same remote-address %s (one IPsec peer per address)", local, pc.Local, f.tunnel, remote)
			}
			if conflicts == nil {
				conflicts = map[string]string{}
			}
			conflicts[name] = why
			e.warnOnce("tunnel "+name, "ipsec: "+name+": ipsec-secret not applied: "+why)
			continue
		}
		delete(e.warned, "tunnel "+name)
		// A GRE and an EoIP tunnel to one address both send GRE (47) between the same
		// endpoints: two policies with the same selectors cannot both work (the
		// responder binds both CHILD SAs to its first policy and drops what arrives on
		// the other as in-template-mismatches), so they share the first one's policy
		// and CHILD SA, as the tunnels to one address share the peer.
		if pi := byPolicy[polKey{remote, tm.proto}]; pi != nil {
			out = append(out, tunnelPeer{tunnel: name, profile: profName, peer: pc, policy: pi})
			continue
		}
		id := tunnelPolicyID(mi, it.ID)
		src, dst := netip.PrefixFrom(local, 32), netip.PrefixFrom(remote, 32)
		cc := &ike.ChildConfig{ID: id, Local: ike.SelectorFromPrefix(src, tm.proto, 0),
			Remote: ike.SelectorFromPrefix(dst, tm.proto, 0), Proposals: ps, Lifetime: lt}
		if old := e.polCfg[id]; old != nil {
			cc.ReqID = old.reqID
		}
		pc.Children = append(pc.Children, cc)
		pi := &policyInfo{id: id, peer: pc.Name, action: esp.ActionEncrypt, level: esp.LevelRequire,
			src: src, dst: dst, proto: tm.proto, reqID: cc.ReqID, saSrc: local, saDst: remote}
		byPolicy[polKey{remote, tm.proto}] = pi
		out = append(out, tunnelPeer{tunnel: name, profile: profName, peer: pc, policy: pi})
	}
	e.tunnelOwners = map[netip.Addr]string{}
	for remote, f := range byRemote {
		e.tunnelOwners[remote] = f.tunnel
	}
	return out, conflicts
}

// tunnelPeer is the dynamic peer of the first tunnel (called name) to remote.
func (e *Engine) tunnelPeer(name string, remote, local netip.Addr, secret string, prof *profile, taken map[string]*ike.PeerConfig) *ike.PeerConfig {
	pc := ike.DefaultPeer()
	pc.Name = name
	if taken[name] != nil {
		pc.Name = "tunnel-" + name
	}
	pc.Remote = netip.PrefixFrom(remote, 32)
	pc.Local = local
	pc.SendInitialContact = true
	pc.Proposals = prof.proposals
	// An ipsec-secret tunnel's peer speaks IKEv2, said here as for a configured peer
	// rather than left to DefaultPeer's values.
	pc.Exchange = ike.ExchangeIKEv2
	pc.NATTraversal = natTraversal(prof, pc.Exchange)
	pc.Lifetime, pc.DPDInterval, pc.DPDMaxFailures = prof.lifetime, prof.dpd, prof.dpdMax
	// my-id=auto remote-id=auto as RouterOS's dynamic identity: our address goes out
	// and any ID the secret authenticates is accepted, so a peer configured by hand
	// (or another vendor) interoperates.
	pc.Identities = []*ike.IdentityConfig{{Name: "tunnel-" + name, Method: ike.AuthMethodPSK,
		PSK: []byte(secret), GeneratePolicy: "no",
		MyID: ike.IDSpec{Auto: true}, RemoteID: ike.IDSpec{Auto: true}}}
	return pc
}

// sendSecretStatus hands the tunnels whose ipsec-secret was left out to the tunnel
// engine when they changed (their interfaces show why).
func (e *Engine) sendSecretStatus() {
	e.mu.Lock()
	c := e.secretConflicts
	same := e.sentConflicts != nil && maps.Equal(c, e.sentConflicts)
	if !same {
		e.sentConflicts = maps.Clone(c)
		if e.sentConflicts == nil {
			e.sentConflicts = map[string]string{}
		}
	}
	e.mu.Unlock()
	if !same && e.opts.SecretStatus != nil {
		e.opts.SecretStatus(maps.Clone(c))
	}
}

// tunnelEndpoints are a tunnel's remote address (a host name resolves through /ip dns)
// and its local one: local-address, else the source of the route to the remote.
func (e *Engine) tunnelEndpoints(ctx context.Context, p map[string]string) (remote, local netip.Addr, err error) {
	ra := p["remote-address"]
	if ra == "" || ra == "0.0.0.0" {
		return remote, local, fmt.Errorf("it needs remote-address")
	}
	if remote, err = netip.ParseAddr(ra); err != nil {
		ips, lerr := e.hosts.Lookup(ctx, "ip4", ra)
		if lerr != nil || len(ips) == 0 || !ips[0].Unmap().Is4() {
			return remote, local, fmt.Errorf("cannot resolve %s", ra)
		}
		remote = ips[0].Unmap()
	}
	if la, perr := netip.ParseAddr(p["local-address"]); perr == nil && !la.IsUnspecified() {
		return remote, la, nil
	}
	// The route the tunnel's packets take outside IPsec (the bypass mark skips the
	// data path's own steering routes).
	err = e.opts.Do(func() error {
		mark := esp.DefaultConfig().BypassMark
		if e.opts.ESP.BypassMark != 0 {
			mark = e.opts.ESP.BypassMark
		}
		rs, err := netlink.RouteGetWithOptions(net.IP(remote.AsSlice()), &netlink.RouteGetOptions{Mark: mark})
		if err != nil {
			return err
		}
		if len(rs) == 0 || rs[0].Src == nil {
			return fmt.Errorf("no source address")
		}
		local, _ = netip.AddrFromSlice(rs[0].Src.To4())
		return nil
	})
	if err != nil {
		return remote, local, fmt.Errorf("no route to %s: %w", remote, err)
	}
	return remote, local, nil
}

// warnOnce logs a message the first time it differs from the last one under key.
func (e *Engine) warnOnce(key, msg string) {
	if e.warned == nil {
		e.warned = map[string]string{}
	}
	if e.warned[key] == msg {
		return
	}
	e.warned[key] = msg
	e.log.Warn(msg)
}

// tunnelRows are the dynamic peers, identities and policies of the tunnels (flag D).
func (e *Engine) tunnelRows(path string) []control.Row {
	e.mu.Lock()
	tps := e.tunnels
	e.mu.Unlock()
	if len(tps) == 0 {
		return nil
	}
	// A policy is established when a CHILD SA of its own is (the tunnels to one address
	// share the IKE SA, each with its CHILD SA).
	up := map[uint64]bool{}
	for _, s := range e.d.Snapshot() {
		if s.State != "established" {
			continue
		}
		for _, c := range s.Children {
			if c.Policy != nil {
				up[c.Policy.ID] = true
			}
		}
	}
	var rows []control.Row
	seen := map[*ike.PeerConfig]bool{}
	// The tunnels sharing a policy (GRE and EoIP to one address) are named in its one
	// row's comment.
	names := map[*policyInfo][]string{}
	for _, tp := range tps {
		names[tp.policy] = append(names[tp.policy], tp.tunnel)
	}
	for i, tp := range tps {
		if path != PolicyPath && seen[tp.peer] {
			continue // the tunnels to one address share the peer and identity
		}
		if path == PolicyPath && names[tp.policy] == nil {
			continue // shown with the first tunnel of its policy
		}
		seen[tp.peer] = true
		var p map[string]string
		flags := "D"
		switch path {
		case PeerPath:
			p = map[string]string{"name": tp.peer.Name, "address": tp.peer.Remote.String(),
				"local-address": tp.peer.Local.String(), "profile": tp.profile, "exchange-mode": "ike2",
				"passive": "no", "send-initial-contact": "yes", "port": "500"}
		case IdentityPath:
			p = map[string]string{"peer": tp.peer.Name, "auth-method": "pre-shared-key", "my-id": "auto",
				"remote-id": "auto", "generate-policy": "no", "policy-template-group": "default"}
		case PolicyPath:
			pi := tp.policy
			p = map[string]string{"src-address": pi.src.String(), "dst-address": pi.dst.String(),
				"src-port": "any", "dst-port": "any", "protocol": protoName(pi.proto), "action": "encrypt",
				"level": "require", "ipsec-protocols": "esp", "tunnel": "no", "peer": tp.peer.Name,
				"sa-src-address": pi.saSrc.String(), "sa-dst-address": pi.saDst.String(),
				"ph2-count": "0", "ph2-state": "no-phase2", "comment": strings.Join(names[pi], ",")}
			delete(names, pi)
			if up[pi.id] {
				p["ph2-count"], p["ph2-state"] = "1", "established"
			}
			flags = e.policyFlags(pi.id, up[pi.id], p)
		}
		rows = append(rows, control.Row{ID: 1<<41 | uint64(i+1), Props: p, Flags: flags})
	}
	return rows
}

// protoName is an IP protocol as print names it (the menu's words), else its number.
func protoName(n uint8) string {
	switch n {
	case 4:
		return "ipencap"
	case 41:
		return "ipv6"
	}
	best := ""
	for name, v := range protoNums {
		if v == n && name != "all" && (best == "" || name < best) {
			best = name
		}
	}
	if best != "" {
		return best
	}
	return strconv.Itoa(int(n))
}
