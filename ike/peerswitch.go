package ike

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strings"
)

// Responder peer choice. IKE_SA_INIT carries nothing but the remote's address, so the
// responder answers it with the most specific peer covering that address whose profile
// accepts the offer (when none of the most specific does, a less specific one that
// does: a tunnel's dynamic /32 peer must not shadow a catch-all peer). Several peers
// can be equally specific: a static /ip ipsec peer and a tunnel's ipsec-secret (whose
// dynamic peer is a /32 of the tunnel's remote-address) to the same router. Which one
// the remote means shows only in IKE_AUTH, as strongSwan picks its peer config by the
// IDs and authentication after IKE_SA_INIT and RouterOS looks up the identity (by
// remote-id, then its secret) among the peers of the address. So IKE_AUTH tries every
// candidate's identities: a peer whose identity admits the remote's ID and verifies
// its AUTH qualifies, and of those the one whose configured policies take the
// traffic selectors the remote proposes for its first CHILD SA (the static peer's
// tunnel-mode policy, or the tunnel's transport-mode one), else one that generates
// policies, else the first that authenticated. When several peers' policies take the
// selectors, the narrowest policy wins (longest address prefixes, then a protocol,
// then the narrowest ports), as a route's longest prefix does: a static peer with a
// 0.0.0.0/0 policy and the same secret as a tunnel to the same router must not take
// the tunnel's GRE CHILD SA because it comes first; equally narrow ones go by the
// order of the configuration (the peer that answered IKE_SA_INIT first). Without that, the peer answering
// IKE_SA_INIT was the only one tried: AUTHENTICATION_FAILED when its secret was the
// other one's, TS_UNACCEPTABLE when the secrets were the same.

// Ranks of an authenticated candidate for the remote's first CHILD SA.
const (
	rankNone     = iota // no policy of the peer takes the proposed selectors
	rankGenerate        // its identity generates policies from templates
	rankPolicy          // one of its policies takes the proposed selectors
)

// authPeer finds the peer and identity that authenticate the remote's IKE_AUTH (ID rid,
// body ridb as received, AUTH auth, payloads ps) and makes that peer the SA's; with none,
// the SA's peer stays and why says why not for the log.
func (sa *IKESA) authPeer(rid Identity, ridb []byte, auth *Auth, ps []Payload) (ident *IdentityConfig, why string) {
	first := sa.peer
	cands := sa.peerCandidates()
	wantChild := Find[*SA](ps) != nil
	var (
		whys      []string
		best      *PeerConfig
		bestCert  = sa.peerCert
		bestRank  = -1
		bestSpec  specificity
		bestIdent *IdentityConfig
	)
	for _, p := range cands {
		sa.peer = p
		ic := sa.pickIdentity(rid, auth, ps)
		if ic == nil {
			whys = append(whys, fmt.Sprintf("no identity matches the peer's ID %s (AUTH method %d)", rid, auth.Method))
			continue
		}
		if w := sa.checkPeerAuth(ic, auth, rid, ridb, ps, true); w != "" {
			whys = append(whys, w)
			continue
		}
		rank, spec := rankPolicy, specificity{}
		if wantChild {
			rank, spec = sa.childRank(p, ic, ps)
		}
		if rank > bestRank || rank == bestRank && spec.narrower(bestSpec) {
			best, bestIdent, bestRank, bestSpec, bestCert = p, ic, rank, spec, sa.peerCert
		}
	}
	sa.peerCert = bestCert
	if best == nil {
		sa.peer = first
		if len(cands) == 1 {
			return nil, whys[0]
		}
		for i := range whys {
			whys[i] = cands[i].Name + ": " + whys[i]
		}
		return nil, "no peer of the address authenticates it (" + strings.Join(whys, "; ") + ")"
	}
	sa.peer = best
	if best != first {
		sa.d.log.Info("ipsec: the initiator's identity chose another peer of its address", "peer", best.Name,
			"instead-of", first.Name, "remote", sa.remote.Addr(), "remote-id", rid.String())
	}
	return bestIdent, ""
}

// peerCandidates are the peers the remote may mean: the one that answered IKE_SA_INIT,
// then the other peers of its address as specific as that one (the most specific, or
// the less specific group IKE_SA_INIT fell back to) whose profile accepts the proposal
// chosen there, in configuration order.
func (sa *IKESA) peerCandidates() []*PeerConfig {
	first := sa.peer
	cands := []*PeerConfig{first}
	var tier []*PeerConfig
	for _, t := range sa.d.peerTiers(sa.remote.Addr()) {
		if t[0].Remote.Bits() == first.Remote.Bits() {
			tier = t
		}
	}
	for _, q := range tier {
		if q.Name == first.Name {
			continue
		}
		if _, ok := Select([]Proposal{sa.initProp}, q.Proposals); ok {
			cands = append(cands, q)
		}
	}
	return cands
}

// eapPeer finds the peer and eap-radius identity for an IKE_AUTH without AUTH (an EAP
// client's first message, ID rid, payloads ps) among the candidates, as authPeer does
// for the others: an identity whose remote-id admits rid, on the peer whose policy
// takes the proposed CHILD SA best. It makes that peer the SA's; nil when none has one.
func (sa *IKESA) eapPeer(rid Identity, ps []Payload) *IdentityConfig {
	first := sa.peer
	wantChild := Find[*SA](ps) != nil
	var (
		best      *PeerConfig
		bestIdent *IdentityConfig
		bestRank  = -1
		bestSpec  specificity
	)
	for _, p := range sa.peerCandidates() {
		sa.peer = p
		for _, ic := range p.Identities {
			if ic.Method != AuthMethodEAPRadius || !sa.remoteIDMatches(ic, rid) {
				continue
			}
			rank, spec := rankPolicy, specificity{}
			if wantChild {
				rank, spec = sa.childRank(p, ic, ps)
			}
			if rank > bestRank || rank == bestRank && spec.narrower(bestSpec) {
				best, bestIdent, bestRank, bestSpec = p, ic, rank, spec
			}
			break
		}
	}
	if best == nil {
		sa.peer = first
		return nil
	}
	sa.peer = best
	if best != first {
		sa.d.log.Info("ipsec: the initiator's identity chose another peer of its address", "peer", best.Name,
			"instead-of", first.Name, "remote", sa.remote.Addr(), "remote-id", rid.String())
	}
	return bestIdent
}

// childRank ranks peer p with identity ic for the CHILD SA the remote proposes in ps;
// with rankPolicy, also how narrow the policy is that takes the proposal (the first of
// the peer's that does, as matchPolicy picks it).
func (sa *IKESA) childRank(p *PeerConfig, ic *IdentityConfig, ps []Payload) (int, specificity) {
	tsi, _ := FindType(ps, PayloadTSi).(*TS)
	tsr, _ := FindType(ps, PayloadTSr).(*TS)
	if tsi == nil || tsr == nil {
		return rankNone, specificity{}
	}
	offeredI, offeredR := tsi.Selectors, tsr.Selectors
	if FindNotify(ps, NotifyUseTransportMode) != nil {
		offeredI, _ = natTransport(offeredI, sa.natRemote, sa.remote.Addr())
		offeredR, _ = natTransport(offeredR, sa.natLocal, sa.local.Addr())
	}
	for _, c := range p.Children {
		if selOverlapAny(offeredI, []Selector{c.Remote}) && selOverlapAny(offeredR, []Selector{c.Local}) {
			return rankPolicy, policySpecificity(c)
		}
	}
	if ic.GeneratePolicy != "" && ic.GeneratePolicy != "no" && len(ic.Templates) > 0 {
		return rankGenerate, specificity{}
	}
	return rankNone, specificity{}
}

// specificity is how narrow a policy's selectors are, compared field by field: the
// address prefix bits of both sides together, then whether each names a protocol,
// then how few ports both leave open.
type specificity struct {
	bits   int
	protos int
	ports  int // minus the number of ports open, so that more is narrower
}

// narrower reports whether s is strictly narrower than o.
func (s specificity) narrower(o specificity) bool {
	if s.bits != o.bits {
		return s.bits > o.bits
	}
	if s.protos != o.protos {
		return s.protos > o.protos
	}
	return s.ports > o.ports
}

// policySpecificity measures a policy's two selectors.
func policySpecificity(c *ChildConfig) specificity {
	var s specificity
	for _, x := range []Selector{c.Local, c.Remote} {
		s.bits += rangeBits(x.Start, x.End)
		if x.IPProto != 0 {
			s.protos++
		}
		if x.EndPort >= x.StartPort {
			s.ports -= int(x.EndPort) - int(x.StartPort) + 1
		}
	}
	return s
}

// rangeBits is the number of leading bits that every address from start to end shares:
// a CIDR range's prefix length (a range that is not one counts as its enclosing prefix).
func rangeBits(start, end netip.Addr) int {
	if !start.IsValid() || !end.IsValid() || start.BitLen() != end.BitLen() {
		return 0
	}
	a, b := start.AsSlice(), end.AsSlice()
	n := 0
	for i := range a {
		x := a[i] ^ b[i]
		if x == 0 {
			n += 8
			continue
		}
		return n + bits.LeadingZeros8(x)
	}
	return n
}
