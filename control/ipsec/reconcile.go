package ipsec

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/eap"
	"github.com/routerd/routerd/ike"
	"github.com/routerd/routerd/ike/esp"
)

// decoded is one pass's configuration, decoded through the menus' schema before anything
// is applied: why items cannot apply, and a digest of everything the peer configurations
// are made of (the typed items, and what the pass looked up for them: host names,
// tunnel endpoints, /ip dns servers, pool ranges, certificates). A pass whose digest is
// the one last applied changes nothing: no IKE SA, SPD entry or firewall rule is touched.
type decoded struct {
	inv map[string]map[uint64]string
	sum hash.Hash
	// items of each menu this pass publishes the state of, in menu order.
	ids map[string][]uint64
	// responders are the passive peers (flag R, read-only responder=yes).
	responders map[uint64]bool
	// resolved is the address a peer given by host name resolved to (its read-only
	// actual-address, as a tunnel's actual-remote-address).
	resolved map[uint64]netip.Addr
}

func (d *decoded) bad(path string, id uint64, err error) {
	if d.inv[path] == nil {
		d.inv[path] = map[uint64]string{}
	}
	d.inv[path][id] = err.Error()
}

// note adds what a configuration is made of to the digest (secrets too: the digest is all
// that is kept).
func (d *decoded) note(format string, args ...any) { fmt.Fprintf(d.sum, format+"\n", args...) }

// decodeAll decodes the items of one menu into T; an item that does not decode is marked
// invalid with the reason and left out. ords are the items' places in the menu (from 1).
func decodeAll[T any](d *decoded, e *Engine, path string, its []store.Item) (out []T, ids []uint64, ords []int) {
	m := e.menu(path)
	for i, it := range its {
		d.ids[path] = append(d.ids[path], it.ID)
		var v T
		if err := engine.Decode(m, it, &v); err != nil {
			d.bad(path, it.ID, err)
			d.note("%s %d bad %v", path, it.ID, err)
			continue
		}
		d.note("%s %d %+v", path, it.ID, v)
		out = append(out, v)
		ids = append(ids, it.ID)
		ords = append(ords, i+1)
	}
	return out, ids, ords
}

// Reconcile decodes the menus into peer configurations for the daemon and the SPD, and
// applies them when they differ from what was applied last.
func (e *Engine) Reconcile(ctx context.Context) error {
	e.startLoop(ctx)
	e.reconcileMu.Lock()
	defer e.reconcileMu.Unlock()
	raw := map[string][]store.Item{}
	for _, path := range []string{ProfilePath, ProposalPath, PeerPath, IdentityPath, PolicyPath, ModeConfigPath, UserPath, SettingsPath} {
		its, err := e.ex.Items(path)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		raw[path] = its
	}
	d := &decoded{inv: map[string]map[uint64]string{}, sum: sha256.New(), ids: map[string][]uint64{}}
	// Settings are read while the identities are built (xauth-use-radius).
	for _, it := range raw[SettingsPath] {
		d.note("settings %v", it.Props)
	}
	d.note("certificates %d", e.certGen.Load())

	cfgs, polCfg, sum, changed := e.decodePass(ctx, d, raw)
	e.sendSecretStatus()
	if !changed {
		return nil
	}
	var dpErr error
	if len(cfgs) > 0 || holds(polCfg) {
		// The data path (a TUN device and a routing rule, or XFRM) comes up with the
		// first peer or held policy, so a router without IPsec carries none of it.
		if dpErr = e.openDatapath(ctx); dpErr != nil {
			e.log.Warn("ipsec: no ESP data path", "err", dpErr)
		}
	} else {
		e.clearBackstops()
	}
	e.d.SetPeers(cfgs)
	e.syncInform(cfgs)
	e.applied.peers.Add(1)
	e.setApplied(cfgs, polCfg, dpErr, sum)
	e.applySPD(ctx)
	e.publishConfig(d)
	e.publishPolicies()
	e.syncRules()
	return nil
}

// holds says whether a policy is held (policyInfo.held): its drop needs the data path
// even when its peer, the only one, is disabled.
func holds(polCfg map[uint64]*policyInfo) bool {
	for _, pi := range polCfg {
		if pi.held {
			return true
		}
	}
	return false
}

// setApplied records what a pass applied: the request ids and SA endpoints the daemon
// gave the policies, and the digest (none when the data path did not open, so the next
// pass tries again).
func (e *Engine) setApplied(cfgs []*ike.PeerConfig, polCfg map[uint64]*policyInfo, dpErr error, sum []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, pc := range cfgs {
		for _, c := range pc.Children {
			if pi := polCfg[c.ID]; pi != nil {
				pi.reqID = c.ReqID
				pi.saDst = pc.Remote.Addr()
				pi.saSrc = pc.Local
			}
		}
	}
	e.dpErr = dpErr
	// A data path that did not open is tried again on the next pass (the loop kicks
	// one while dpErr is set); everything else is applied.
	e.appliedSum = nil
	if dpErr == nil {
		e.appliedSum = sum
	}
}

// decodePass decodes the menus into the daemon's peer configurations and the policies
// (e.mu held, released by a deferred call, so a panic in a pass, which the host
// recovers, leaves the engine usable). changed is false when the configuration's digest
// is the one last applied; otherwise the engine now holds the new configuration.
func (e *Engine) decodePass(ctx context.Context, d *decoded, raw map[string][]store.Item) (cfgs []*ike.PeerConfig, polCfg map[uint64]*policyInfo, sum []byte, changed bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if f := e.passHook.Load(); f != nil {
		(*f)()
	}
	users, _, _ := decodeAll[userItem](d, e, UserPath, raw[UserPath])
	xauthUsers := map[string]xauthUser{}
	for _, u := range users {
		if !u.Disabled && u.Name != "" {
			xauthUsers[u.Name] = xauthUser{password: u.Password, address: u.Address}
		}
	}
	modeConfigs := map[string]*ike.ModeConfig{}
	mcItems := map[string]modeConfigItem{}
	mcs, mcIDs, _ := decodeAll[modeConfigItem](d, e, ModeConfigPath, raw[ModeConfigPath])
	for i, it := range mcs {
		mcItems[it.Name] = it
		mc, ranges, err := e.decodeModeConfig(it)
		if err != nil {
			d.bad(ModeConfigPath, mcIDs[i], err)
			d.note("mode-config %s bad %v", it.Name, err)
			continue
		}
		d.note("mode-config %s dns %v pool %v", it.Name, mc.DNS, ranges)
		modeConfigs[mc.Name] = mc
	}

	profByName := map[string]*profile{}
	profItems, profIDs, _ := decodeAll[profileItem](d, e, ProfilePath, raw[ProfilePath])
	for i, it := range profItems {
		p, err := decodeProfile(it)
		if err != nil {
			d.bad(ProfilePath, profIDs[i], err)
			continue
		}
		profByName[it.Name] = p
	}
	// Tunnels' ipsec-secret peers use the default profile, whatever it is called now.
	defProf := ""
	for _, it := range raw[ProfilePath] {
		if control.IsBuiltin(it.Props) {
			defProf = it.Props["name"]
		}
	}
	type espProp struct {
		ps []ike.Proposal
		lt time.Duration
	}
	propByName := map[string]espProp{}
	propItems, propIDs, _ := decodeAll[proposalItem](d, e, ProposalPath, raw[ProposalPath])
	for i, it := range propItems {
		if it.Disabled {
			continue
		}
		ps, lt, err := espProposal(it)
		if err != nil {
			d.bad(ProposalPath, propIDs[i], err)
			continue
		}
		propByName[it.Name] = espProp{ps, lt}
	}

	peerByName := map[string]*ike.PeerConfig{}
	peerItems, peerIDs, _ := decodeAll[peerItem](d, e, PeerPath, raw[PeerPath])
	d.responders = map[uint64]bool{}
	d.resolved = map[uint64]netip.Addr{}
	disabledPeers := map[string]bool{}
	for i, it := range peerItems {
		id := peerIDs[i]
		d.responders[id] = it.Passive
		name := it.Name
		if name == "" {
			name = "peer" + strconv.FormatUint(id, 10)
		}
		if it.Disabled {
			disabledPeers[name] = true
			continue
		}
		mode, ok := exchangeModes[it.ExchangeMode]
		if !ok {
			d.bad(PeerPath, id, fmt.Errorf("exchange-mode=%s is not supported", it.ExchangeMode))
			continue
		}
		prof := profByName[it.Profile]
		if prof == nil {
			d.bad(PeerPath, id, fmt.Errorf("profile %q is not usable", it.Profile))
			continue
		}
		pfx, err := prefix(it.Address)
		if err != nil {
			// A host name resolves as RouterOS resolves it: /ip dns static, then the
			// /ip dns servers.
			ips, lerr := e.hosts.Lookup(ctx, "ip", it.Address)
			if lerr != nil || len(ips) == 0 {
				d.bad(PeerPath, id, fmt.Errorf("cannot resolve %s: %v", it.Address, lerr))
				d.note("peer %d unresolved", id)
				continue
			}
			a := ips[0].Unmap()
			pfx = netip.PrefixFrom(a, a.BitLen())
			d.note("peer %d resolved %v", id, pfx)
			d.resolved[id] = a
		}
		pc := ike.DefaultPeer()
		pc.Name = name
		pc.Remote = pfx
		pc.Local = it.LocalAddress
		pc.Port = it.Port
		pc.Passive = it.Passive
		pc.SendInitialContact = it.SendInitialContact
		pc.SkipPeerIDCheck = slices.Contains(it.CompatibilityOptions, "skip-peer-id-check")
		pc.Proposals = prof.proposals
		pc.Exchange, pc.ProposalCheck, pc.Lifebytes = mode, prof.proposalCheck, prof.lifebytes
		pc.Lifetime, pc.DPDInterval, pc.DPDMaxFailures = prof.lifetime, prof.dpd, prof.dpdMax
		pc.NATTraversal = natTraversal(prof, mode)
		cfgs = append(cfgs, pc)
		peerByName[name] = pc
	}
	tunnels, conflicts := e.tunnelPeers(ctx, defProf, profByName[defProf], peerByName)
	e.secretConflicts = conflicts
	d.note("tunnel conflicts %v", conflicts)
	shared := map[*ike.PeerConfig]bool{}
	for _, tp := range tunnels {
		if !shared[tp.peer] { // the tunnels to one address share their peer
			shared[tp.peer] = true
			cfgs = append(cfgs, tp.peer)
		}
		d.note("tunnel %s %s %v %v %d %q", tp.tunnel, tp.peer.Name, tp.peer.Remote, tp.peer.Local, tp.policy.id, tp.peer.Identities[0].PSK)
	}

	// Policy templates by group.
	templates := map[string][]*ike.ChildConfig{}
	polCfg = map[uint64]*policyInfo{}
	tmplOrd := map[uint64]int{}
	// The selectors of the policies so far: a later policy with the same ones is invalid,
	// as on RouterOS (the reference's I flag: "a duplicate policy with the same
	// src-address and dst-address"); only the first is used.
	selectors := map[string]string{} // the selectors -> the policy that has them, as its status names it
	polItems, polIDs, polOrds := decodeAll[policyItem](d, e, PolicyPath, raw[PolicyPath])
	for i, it := range polItems {
		id, ord := polIDs[i], polOrds[i]
		if it.Disabled {
			continue
		}
		if it.Template {
			tmplOrd[id] = ord
		}
		proto, err := protoNumber(it.Protocol)
		if err != nil {
			d.bad(PolicyPath, id, err)
			continue
		}
		sport, err1 := portNumber("src-port", it.SrcPort)
		dport, err2 := portNumber("dst-port", it.DstPort)
		if err := errors.Join(err1, err2); err != nil {
			d.bad(PolicyPath, id, err)
			continue
		}
		src, dst := it.SrcAddress, it.DstAddress
		if !it.Template && src.Addr().Is4() != dst.Addr().Is4() {
			// Never matches a packet nor makes a traffic selector pair (QA). Templates
			// may mix: ::/0 stands for either family (anyFamilyTwin).
			d.bad(PolicyPath, id, errors.New("src-address and dst-address must be of the same address family"))
			continue
		}
		if !it.Template {
			sel := fmt.Sprint(src.Masked(), dst.Masked(), proto, sport, dport)
			if first, ok := selectors[sel]; ok {
				d.bad(PolicyPath, id, fmt.Errorf("duplicate policy: it has the src-address, dst-address, protocol and ports of %s", first))
				continue
			}
			selectors[sel] = policyName(id, it)
		}
		cc := &ike.ChildConfig{ID: id, Local: ike.SelectorFromPrefix(src, proto, sport),
			Remote: ike.SelectorFromPrefix(dst, proto, dport), Tunnel: it.Tunnel}
		pr, ok := propByName[it.Proposal]
		if !ok {
			d.bad(PolicyPath, id, fmt.Errorf("proposal %q is not usable", it.Proposal))
			continue
		}
		cc.Proposals, cc.Lifetime = pr.ps, pr.lt
		if it.Template {
			templates[it.Group] = append(templates[it.Group], cc)
			if v4 := anyFamilyTwin(cc); v4 != nil {
				templates[it.Group] = append(templates[it.Group], v4)
			}
			continue
		}
		pi := &policyInfo{id: id, peer: it.Peer, tunnel: cc.Tunnel, src: src, dst: dst, proto: proto,
			sport: sport, dport: dport, ord: ord}
		switch it.Action {
		case "discard":
			pi.action = esp.ActionDiscard
		case "none":
			pi.action = esp.ActionNone
		default:
			pi.action = esp.ActionEncrypt
		}
		switch it.Level {
		case "use":
			pi.level, cc.OnTraffic = esp.LevelUse, true
		case "unique":
			pi.level = esp.LevelUnique
		default:
			pi.level = esp.LevelRequire
		}
		if pi.action == esp.ActionEncrypt {
			pc := peerByName[it.Peer]
			if pc == nil {
				why := fmt.Errorf("peer %q is not usable", it.Peer)
				switch {
				case it.Peer == "":
					why = errors.New("no peer")
				case disabledPeers[it.Peer]:
					why = fmt.Errorf("peer %q is disabled", it.Peer)
				}
				// level=require/unique means never in the clear: a policy whose peer is
				// disabled, broken, removed or unset stays in the SPD without an SA, so
				// its packets are dropped as for a peer that is down, instead of leaving
				// the SPD and falling through to the main table in the clear (issue 12;
				// the lead's decision; QA: a peer-less one did). level=use goes in the
				// clear without an SA anyway.
				if pi.level != esp.LevelUse {
					lvl := "require"
					if pi.level == esp.LevelUnique {
						lvl = "unique"
					}
					why = fmt.Errorf("%w: its traffic is held (level=%s), not sent in the clear", why, lvl)
					pi.held = true
					polCfg[id] = pi
				}
				d.bad(PolicyPath, id, why)
				continue
			}
			// Keep the request id of a policy across reconciles so the SAs stay linked.
			if old := e.polCfg[id]; old != nil {
				cc.ReqID = old.reqID
			}
			pc.Children = append(pc.Children, cc)
		}
		polCfg[id] = pi
		pi.reqID = cc.ReqID
	}

	prs := map[string]peerRules{}
	// Why a peer's identities are not usable (the first one's reason), for its policies'
	// status when it is left with none.
	idWhy := map[string]string{}
	idItems, idIDs, _ := decodeAll[identityItem](d, e, IdentityPath, raw[IdentityPath])
	for i, it := range idItems {
		if it.Disabled {
			if idWhy[it.Peer] == "" {
				idWhy[it.Peer] = "identity " + control.FormatID(idIDs[i]) + " is disabled"
			}
			continue
		}
		ic, err := e.identity(it, idIDs[i], peerByName[it.Peer], xauthUsers, modeConfigs, templates)
		if err != nil {
			d.bad(IdentityPath, idIDs[i], err)
			if idWhy[it.Peer] == "" {
				idWhy[it.Peer] = "identity " + control.FormatID(idIDs[i]) + ": " + err.Error()
			}
			continue
		}
		pr := peerRules{notrackChain: it.NotrackChain}
		if mc, ok := mcItems[it.ModeConfig]; ok && !mc.Responder {
			pr.srcList, pr.connMark = mc.SrcAddressList, mc.ConnectionMark
		}
		prs[ic.Name] = pr
	}
	for _, pi := range polCfg {
		pc := peerByName[pi.peer]
		if pi.held || pi.action != esp.ActionEncrypt || pc == nil || len(pc.Identities) > 0 {
			continue
		}
		// Such a peer never negotiates (the daemon neither initiates for it nor accepts
		// its IKE_AUTH), so the policy's traffic waits for an SA that cannot come, and
		// print said nothing of why (issue 12 low). The policy itself is applied (in the
		// SPD, its packets dropped or bypassed by its level): a status, not the I flag.
		why := fmt.Sprintf("peer %q has no identity", pi.peer)
		if w := idWhy[pi.peer]; w != "" {
			why = fmt.Sprintf("peer %q has no usable identity (%s)", pi.peer, w)
		}
		switch pi.level {
		case esp.LevelUse:
			why += ": no SA, its traffic goes in the clear (level=use)"
		case esp.LevelUnique:
			why += ": its traffic is held (level=unique), not sent in the clear"
		default:
			why += ": its traffic is held (level=require), not sent in the clear"
		}
		pi.noIdentity = why
	}
	for _, tp := range tunnels {
		polCfg[tp.policy.id] = tp.policy
	}
	sum = d.sum.Sum(nil)
	if bytes.Equal(sum, e.appliedSum) {
		// Nothing the peers are made of changed: the daemon keeps its configuration
		// and SAs, the SPD and the firewall rules stay as they are.
		return nil, nil, nil, false
	}
	for id, pi := range polCfg {
		// Logged once: when it starts or its reason changes, not on every pass.
		if old := e.polCfg[id]; pi.noIdentity != "" && (old == nil || old.noIdentity != pi.noIdentity) {
			e.log.Warn("ipsec: policy "+control.FormatID(id)+": "+pi.noIdentity, "peer", pi.peer)
		}
	}
	e.peers = cfgs
	e.polCfg = polCfg
	e.tmplOrd = tmplOrd
	e.tunnels = tunnels
	e.peerRules = prs
	e.invalid = d.inv
	return cfgs, polCfg, sum, true
}

// natTraversal is a peer's NAT-T. nat-traversal is IKEv1's: the reference lists it among
// the parameters IKEv2 ignores (IKEv2 always detects NATs and floats, RFC 7296 2.23).
func natTraversal(prof *profile, mode ike.ExchangeMode) bool {
	return prof.natT || mode == ike.ExchangeIKEv2
}

// policyName names a policy in another's status: its id (print numbers move with the
// dynamic policies listed among the configured ones) and its peer. Not its comment: a
// comment is not configuration, and changing it applies nothing (TestQuietPass).
func policyName(id uint64, it policyItem) string {
	name := "policy " + control.FormatID(id)
	if it.Peer != "" {
		name += " (peer=" + it.Peer + ")"
	}
	return name
}

// identity builds the daemon's configuration of one /ip ipsec identity and adds it to
// its peer pc.
func (e *Engine) identity(it identityItem, id uint64, pc *ike.PeerConfig, users map[string]xauthUser,
	modeConfigs map[string]*ike.ModeConfig, templates map[string][]*ike.ChildConfig) (*ike.IdentityConfig, error) {
	if pc == nil {
		return nil, fmt.Errorf("peer %q is not usable", it.Peer)
	}
	method := it.AuthMethod
	sig := method == "digital-signature"
	rsaKey := method == "rsa-key"
	hybrid := method == "rsa-signature-hybrid"
	if method != "pre-shared-key" && method != "eap" && method != "eap-radius" && !sig && !rsaKey && !hybrid && method != "pre-shared-key-xauth" {
		return nil, fmt.Errorf("auth-method=%s is not supported yet", method)
	}
	if err := ikev1Method(method, pc); err != nil {
		return nil, err
	}
	psk, err := secret(it.Secret)
	// EAP identities may have a secret: the responder authenticates with it (eap.go).
	if err == nil && len(psk) == 0 && (method == "pre-shared-key" || method == "pre-shared-key-xauth") {
		err = errors.New("secret is empty")
	}
	if err != nil {
		return nil, err
	}
	my, err := idSpec(it.MyID)
	if err != nil {
		return nil, err
	}
	rem, err := idSpec(it.RemoteID)
	if err != nil {
		return nil, err
	}
	ic := &ike.IdentityConfig{Name: strconv.FormatUint(id, 10), Method: ike.AuthMethodKind(method), PSK: psk,
		MyID: my, RemoteID: rem, GeneratePolicy: it.GeneratePolicy}
	if err := eapIdentity(it, ic, e.opts.RADIUS != nil); err != nil {
		return nil, err
	}
	// digital-signature signs and verifies with /certificate; an eap-radius identity
	// with certificate= signs the responder's AUTH with it. The reference: "A server
	// certificate in this case is required"; one named that does not exist (or has no
	// key) makes the identity invalid, as for digital-signature. Without certificate=,
	// only EAP-only clients (RFC 5998) connect, as the reference says.
	if sig || rsaKey || hybrid || (method == "eap-radius" && it.Certificate != "") {
		auth := e.certAuth
		if rsaKey {
			auth = e.rsaKeyAuth
		}
		if err := auth(it, ic); err != nil {
			return nil, err
		}
	} else if method == "eap" && e.opts.Certs != nil {
		// The EAP client verifies a responder's certificate against /certificate.
		if err := e.certAuth(it, ic); err != nil {
			return nil, err
		}
		if slices.Contains(ic.EAPMethods, eap.TypeTLS) && ic.Cert == nil && len(ic.EAPMethods) == 1 {
			return nil, errors.New("eap-methods=eap-tls needs certificate=")
		}
	}
	if method == "pre-shared-key-xauth" || hybrid {
		if err := xauthIdentity(ic, it, pc, users); err != nil {
			return nil, err
		}
		if pc.Passive {
			ic.XAuthCheck = e.xauthRADIUS() // xauth-use-radius=yes
		}
	}
	if m := it.ModeConfig; m != "" && m != "none" {
		if ic.ModeConfig = modeConfigs[m]; ic.ModeConfig == nil {
			return nil, fmt.Errorf("mode-config %q is not usable", m)
		}
	}
	if g := it.PolicyTemplateGroup; g != "none" {
		ic.Templates = templates[g]
	}
	if !pc.Passive && ic.GeneratePolicy != "no" && len(pc.Children) == 0 {
		// An initiator with generate-policy proposes its templates (the reference's
		// GRE over IKEv2 client). Of the default ::/0 template and its IPv4 twin only the
		// one of the tunnel's family: IPv4 with a mode config address (only IPv4 is
		// asked for), else the peer's.
		v4 := pc.Remote.Addr().Is4()
		if mc := ic.ModeConfig; mc != nil && !mc.Responder {
			v4 = true
		}
		for _, t := range ic.Templates {
			if t.AnyFamily && t.Local.Start.Is4() != v4 {
				continue
			}
			c := *t
			c.Dynamic = true
			if mc := ic.ModeConfig; mc != nil && !mc.Responder {
				c.Remote = unsetToAny(c.Remote)
			}
			if h := pc.Remote; c.Remote.Start != c.Remote.End || !h.IsSingleIP() || c.Remote.Start != h.Addr() {
				c.Tunnel = true // not between the SA's own addresses: a tunnel
			}
			pc.Children = append(pc.Children, &c)
		}
	}
	pc.Identities = append(pc.Identities, ic)
	return ic, nil
}

// publishConfig marks the items that cannot apply (the policies: publishPolicies).
func (e *Engine) publishConfig(d *decoded) {
	ids, responders := d.ids, d.responders
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, path := range []string{ProfilePath, ProposalPath, PeerPath, IdentityPath, ModeConfigPath, UserPath} {
		for _, id := range ids[path] {
			if path == IdentityPath {
				e.ex.State.Set(path, id, e.identityState(id, e.peerRules[strconv.FormatUint(id, 10)]))
				continue
			}
			st := control.ItemState{}
			if why, ok := e.invalid[path][id]; ok {
				st.Invalid, st.Status = true, why
			}
			if path == PeerPath {
				st.Props = map[string]string{"responder": "no"}
				if a, ok := d.resolved[id]; ok && !st.Invalid {
					st.Props["actual-address"] = a.String()
				}
				if responders[id] {
					st.Props["responder"] = "yes"
				}
			}
			e.ex.State.Set(path, id, st)
		}
	}
}
