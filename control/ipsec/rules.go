package ipsec

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/firewall"
	"github.com/routerd/routerd/ike/esp"
)

// RuleSetter takes the engine's dynamic firewall rules: the firewall engine's
// *firewall.DynamicRules service (cmd/routerd looks it up on the engine host).
type RuleSetter interface {
	Set(owner string, rules []firewall.DynamicRule) error
}

// ruleOwner names the engine's rules in the firewall.
const ruleOwner = "ipsec"

// peerRules is what an identity and its mode config ask of the firewall; the engine keeps
// them per identity, since a peer may hold several and an SA follows the one it matched.
type peerRules struct {
	notrackChain string // identity notrack-chain
	srcList      string // mode config (responder=no) src-address-list
	connMark     string // mode config (responder=no) connection-mark
}

// dynamicRules are the rules RouterOS adds for IPsec (flag D in /ip firewall):
//   - mode config initiators with src-address-list: one src-nat to the received address
//     per dynamic policy ("ipsec mode-config"), for the list's sources (and connection-mark);
//   - identities with notrack-chain: raw notrack rules for their dynamic policies' traffic,
//     both ways;
//   - NAT bypass: the router's own IKE (UDP 500, 4500) and the traffic of every tunnel
//     mode policy are accepted in srcnat before any masquerade can rewrite them out of
//     the policy.
func (e *Engine) dynamicRules() []firewall.DynamicRule {
	var modeCfg, notrack, bypass []firewall.DynamicRule
	v6 := func(p netip.Prefix) bool { return p.Addr().Is6() }
	var byIdent map[string]peerRules
	var havePeers bool
	e.locked(func() {
		byIdent, havePeers = e.peerRules, len(e.peers) > 0
		for _, id := range sortedIDs(e.polCfg) {
			pi := e.polCfg[id]
			if pi.action == esp.ActionEncrypt && pi.tunnel {
				bypass = append(bypass, firewall.DynamicRule{V6: v6(pi.src), Table: "nat", Props: map[string]string{
					"chain": "srcnat", "action": "accept", "src-address": pi.src.String(), "dst-address": pi.dst.String(),
					"comment": "ipsec policy"}})
			}
		}
	})
	for _, s := range e.d.Snapshot() {
		if s.State != "established" {
			continue
		}
		pr := byIdent[s.Identity]
		for _, c := range s.Children {
			if c.Policy == nil || !c.Policy.Dynamic {
				continue
			}
			// One set of rules per generated policy (per split-include network).
			for _, tp := range tsPairs(&c) {
				lp, rp := tp.local, tp.remote
				if c.Tunnel {
					bypass = append(bypass, firewall.DynamicRule{V6: v6(lp), Table: "nat", Props: map[string]string{
						"chain": "srcnat", "action": "accept", "src-address": lp.String(), "dst-address": rp.String(),
						"comment": "ipsec policy"}})
				}
				if pr.notrackChain != "" {
					for _, d := range [][2]netip.Prefix{{rp, lp}, {lp, rp}} {
						notrack = append(notrack, firewall.DynamicRule{V6: v6(lp), Table: "raw", Props: map[string]string{
							"chain": pr.notrackChain, "action": "notrack", "src-address": d[0].String(),
							"dst-address": d[1].String(), "comment": "ipsec notrack-chain"}})
					}
				}
				if pr.srcList != "" && s.Received && s.VirtualIP.IsValid() && s.VirtualIP.Is4() == lp.Addr().Is4() {
					p := map[string]string{"chain": "srcnat", "action": "src-nat", "to-addresses": s.VirtualIP.String(),
						"src-address-list": pr.srcList, "comment": "ipsec mode-config"}
					if rp.Bits() == 0 {
						p["dst-address-list"] = "!" + pr.srcList
					} else {
						p["dst-address"] = rp.String()
					}
					if pr.connMark != "" {
						p["connection-mark"] = pr.connMark
					}
					modeCfg = append(modeCfg, firewall.DynamicRule{V6: s.VirtualIP.Is6(), Table: "nat", Props: p})
				}
			}
		}
	}
	var out []firewall.DynamicRule
	out = append(out, modeCfg...)
	if havePeers {
		// This host's IKE and ESP keep their addresses whatever srcnat does (the
		// reference's "udp 500,4500 accept"), also when mark-routing replaced the bypass
		// mark the firewall's own rule looks for. Only this host's: a LAN client's IKE
		// and ESP through the router are still masqueraded.
		for _, fam := range []bool{false, true} {
			out = append(out, firewall.DynamicRule{V6: fam, Table: "nat", Props: map[string]string{
				"chain": "srcnat", "action": "accept", "protocol": "udp", "src-port": "500,4500",
				"src-address-type": "local", "comment": "ipsec IKE"}},
				firewall.DynamicRule{V6: fam, Table: "nat", Props: map[string]string{
					"chain": "srcnat", "action": "accept", "protocol": "ipsec-esp",
					"src-address-type": "local", "comment": "ipsec ESP"}})
		}
	}
	out = append(out, bypass...)
	return append(out, notrack...)
}

// syncRules hands the firewall the rules when they changed.
func (e *Engine) syncRules() {
	if e.opts.Rules == nil {
		return
	}
	rules := e.dynamicRules()
	key := fmt.Sprint(rules)
	e.mu.Lock()
	same := key == e.rulesKey && e.rulesErr == nil
	e.mu.Unlock()
	if same {
		return
	}
	err := e.opts.Rules.Set(ruleOwner, rules)
	e.applied.rules.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	// A refused set is tried again (the loop, while rulesErr is set); the identities
	// whose rules they are show why.
	was := e.rulesErr
	e.rulesKey, e.rulesErr = key, err
	if err != nil {
		e.warnOnce("rules", fmt.Sprintf("ipsec: dynamic firewall rules not applied: %v", err))
	}
	if err != nil || was != nil {
		for id, pr := range e.peerRules {
			if n, perr := strconv.ParseUint(id, 10, 64); perr == nil && pr != (peerRules{}) {
				e.ex.State.Set(IdentityPath, n, e.identityState(n, pr))
			}
		}
	}
}

// identityState is an identity's state: why it cannot apply, or why the firewall rules
// it asks for are not there (e.mu held).
func (e *Engine) identityState(id uint64, pr peerRules) control.ItemState {
	if why, ok := e.invalid[IdentityPath][id]; ok {
		return control.ItemState{Invalid: true, Status: why}
	}
	if e.rulesErr != nil && pr != (peerRules{}) {
		return control.ItemState{Invalid: true, Status: "not applied: dynamic firewall rules: " + e.rulesErr.Error()}
	}
	return control.ItemState{}
}

func sortedIDs[V any](m map[uint64]V) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
