package ike

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"fmt"
	"net/netip"
	"time"

	"github.com/routerd/routerd/eap"
)

// EAP in IKE_AUTH (RFC 7296 2.16) with EAP-only authentication (RFC 5998): the
// responder of an eap-radius identity relays the peer's EAP to RADIUS through an
// EAPRelay; the initiator of an eap identity runs EAP-MSCHAPv2 itself. Both sides then
// authenticate with AUTH payloads keyed by the EAP MSK.

// EAPRelay relays a peer's EAP to an authentication server (RADIUS for eap-radius).
// Its methods are called without the daemon's lock held and may block.
type EAPRelay interface {
	Relay(ctx context.Context, r EAPRelayRequest) (EAPRelayAnswer, error)
	// Account reports an EAP-authenticated IKE SA's start and stop.
	Account(ctx context.Context, a EAPAccounting)
}

// EAPRelayRequest is one EAP response of the peer.
type EAPRelayRequest struct {
	Identity    string // the peer's EAP identity
	EAP         []byte
	State       []byte // the previous answer's State
	Peer, Local netip.AddrPort
}

// EAPRelayAnswer is the server's answer: the next EAP request, or the end.
type EAPRelayAnswer struct {
	EAP    []byte
	State  []byte
	Accept bool // EAP succeeded; MSK is set
	MSK    []byte
	// Reason says why a reject happened, for the log.
	Reason string
	// Address is a Framed-IP-Address the server assigned (mode config hands it out).
	Address netip.Addr
}

// EAPAccounting is one accounting event of an EAP-authenticated IKE SA.
type EAPAccounting struct {
	Start       bool
	SessionID   string
	User        string
	Peer, Local netip.AddrPort
	Address     netip.Addr
	Duration    time.Duration
	Cause       string
	// In and Out are the IKE SA's CHILD_SA traffic (Stop; the relay fills them for
	// Interim-Update from Daemon.EAPTraffic; In from the peer).
	In, Out Traffic
}

// eapState is the EAP part of an IKE SA.
type eapState struct {
	// responder
	first     []Payload // the peer's first IKE_AUTH payloads (SA, TSi, TSr, CP)
	user      string
	state     []byte
	busy      bool
	addr      netip.Addr
	sessionID string
	started   time.Time
	in, out   Traffic // of the CHILD_SAs gone so far (acctcount.go)
	// initiator
	peer        *eap.Peer
	responderOK bool
	counted     bool // the failure is counted already
	// both
	success bool
	msk     []byte
}

func randomByte() uint8 {
	var b [1]byte
	rand.Read(b[:])
	return b[0]
}

// eapAuthRequest handles IKE_AUTH requests of an EAP exchange as responder; false
// means the request is not one (the caller goes on with other methods).
func (sa *IKESA) eapAuthRequest(h Header, ps []Payload) bool {
	st := sa.eap
	if st == nil {
		idi, _ := FindType(ps, PayloadIDi).(*ID)
		if idi == nil || Find[*Auth](ps) != nil {
			return false
		}
		rid := Identity{Type: idi.IDType, Data: idi.Data}
		ident := sa.eapPeer(rid, ps)
		if ident == nil {
			return false
		}
		sa.ident, sa.remoteID, sa.remoteIDBody = ident, rid, idi.body(nil)
		if sa.d.opts.EAPRelay == nil {
			sa.authFailed(h, "auth-method=eap-radius but no RADIUS client for service=ipsec")
			return true
		}
		sa.myID = sa.localIdentity()
		out := []Payload{&ID{Responder: true, IDType: sa.myID.Type, Data: sa.myID.Data}}
		switch {
		case ident.Cert != nil:
			// certificate=: this side signs its AUTH and sends its chain (sigauth.go),
			// as the reference's EAP road warrior has the responder do.
			own, err := sa.ownAuth(ident, false, sa.myID)
			if err != nil {
				sa.authFailed(h, err.Error())
				return true
			}
			out = append(out, own...)
		case len(ident.PSK) > 0:
			// The identity has a secret: this side authenticates with it before EAP
			// (clients such as strongSwan accept EAP-MSCHAPv2 only with a responder
			// authenticated apart from EAP).
			out = append(out, &Auth{Method: AuthPSK, Data: sa.authData(ident.PSK, false, idBody(sa.myID))})
		case FindNotify(ps, NotifyEAPOnlyAuthentication) != nil:
			// EAP-only (RFC 5998): both AUTHs are keyed with the MSK.
		default:
			sa.authFailed(h, "the peer does not offer EAP-only authentication (RFC 5998) and the identity has neither a secret nor a certificate to authenticate the responder with")
			return true
		}
		sa.eap = &eapState{first: ps}
		req := &eap.Packet{Code: eap.CodeRequest, ID: randomByte(), Type: eap.TypeIdentity}
		sa.respond(h.Exchange, h.MsgID, append(out, &EAP{Data: req.Marshal()}))
		return true
	}
	if st.busy {
		// The RADIUS answer to the previous message is still out (a retransmission is
		// answered from the cache once it is in).
		return true
	}
	if st.success {
		auth := Find[*Auth](ps)
		if auth == nil {
			sa.authFailed(h, "IKE_AUTH after EAP success without AUTH")
			return true
		}
		if auth.Method != AuthPSK || !hmac.Equal(auth.Data, sa.authData(st.msk, true, sa.remoteIDBody)) {
			sa.authFailed(h, "peer's AUTH keyed with the EAP MSK does not verify")
			return true
		}
		sa.eapFinish(h)
		return true
	}
	e := Find[*EAP](ps)
	if e == nil {
		sa.authFailed(h, "IKE_AUTH during EAP without an EAP payload")
		return true
	}
	p, err := eap.Parse(e.Data)
	if err != nil || p.Code != eap.CodeResponse {
		sa.d.Stats.Malformed.Add(1)
		sa.authFailed(h, fmt.Sprintf("bad EAP message from the peer: %v", err))
		return true
	}
	if st.user == "" {
		if p.Type != eap.TypeIdentity || len(p.Data) == 0 {
			sa.authFailed(h, "peer did not answer the EAP identity request")
			return true
		}
		st.user = string(p.Data)
	}
	st.busy = true
	relay := sa.d.opts.EAPRelay
	req := EAPRelayRequest{Identity: st.user, EAP: e.Data, State: st.state, Peer: sa.remote, Local: sa.local}
	sa.d.spawn("EAP relay", false, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ans, err := relay.Relay(ctx, req)
		cancel()
		sa.d.mu.Lock()
		defer sa.d.mu.Unlock()
		if sa.d.closed || sa.state == stateDead {
			return
		}
		st.busy = false
		sa.eapAnswer(h, ans, err)
	})
	return true
}

// eapAnswer passes the server's answer on to the peer (d.mu held).
func (sa *IKESA) eapAnswer(h Header, ans EAPRelayAnswer, err error) {
	st := sa.eap
	fail := func(why string) {
		if !st.counted {
			sa.d.Stats.AuthFailed.Add(1)
		}
		f := &eap.Packet{Code: eap.CodeFailure, ID: 0}
		if p, perr := eap.Parse(ans.EAP); perr == nil && p.Code == eap.CodeFailure {
			f = p
		}
		sa.respond(h.Exchange, h.MsgID, []Payload{&EAP{Data: f.Marshal()}})
		sa.d.log.Warn("ipsec: EAP authentication failed", "peer", sa.peer.Name, "remote", sa.remote.Addr(), "user", st.user, "reason", why)
		sa.destroy("EAP authentication failed")
	}
	switch {
	case err != nil:
		fail("RADIUS: " + err.Error())
	case ans.Accept:
		if len(ans.MSK) == 0 {
			fail("RADIUS Access-Accept without MS-MPPE keys (no MSK)")
			return
		}
		st.success, st.msk, st.addr = true, ans.MSK, ans.Address
		out := ans.EAP
		if p, perr := eap.Parse(out); perr != nil || p.Code != eap.CodeSuccess {
			out = (&eap.Packet{Code: eap.CodeSuccess}).Marshal()
		}
		sa.respond(h.Exchange, h.MsgID, []Payload{&EAP{Data: out}})
	case len(ans.EAP) > 0 && ans.Reason == "":
		if p, perr := eap.Parse(ans.EAP); perr != nil || p.Code != eap.CodeRequest {
			fail(fmt.Sprintf("RADIUS sent a bad EAP message: %v", perr))
			return
		}
		st.state = ans.State
		if p, _ := eap.Parse(ans.EAP); p.Type == eap.TypeMSCHAPv2 && len(p.Data) > 4 && p.Data[0] == eap.MSCHAPv2Failure {
			// The server's MS-CHAPv2 failure: the peer acknowledges or gives up, and
			// either way this authentication failed.
			sa.d.Stats.AuthFailed.Add(1)
			sa.d.log.Warn("ipsec: EAP authentication failed", "peer", sa.peer.Name, "remote", sa.remote.Addr(), "user", st.user,
				"reason", "EAP-MSCHAPv2 failure from the server: "+string(p.Data[4:]))
			st.counted = true
		}
		sa.respond(h.Exchange, h.MsgID, []Payload{&EAP{Data: ans.EAP}})
	default:
		why := ans.Reason
		if why == "" {
			why = "rejected by the RADIUS server"
		}
		fail(why)
	}
}

// eapFinish answers the peer's final AUTH: ours keyed with the MSK, the mode config and
// the first CHILD_SA from the peer's first message (as authRequest does for PSKs).
func (sa *IKESA) eapFinish(h Header) {
	st := sa.eap
	ps := st.first
	if FindNotify(ps, NotifyInitialContact) != nil {
		for _, o := range sa.d.sas {
			if o != sa && o.peer == sa.peer && o.remoteID.Equal(sa.remoteID) && o.remote.Addr() == sa.remote.Addr() && o.state == stateEstablished {
				o.sendDelete()
				o.destroy("initial contact from the peer")
			}
		}
	}
	out := []Payload{&Auth{Method: AuthPSK, Data: sa.authData(st.msk, false, idBody(sa.myID))}}
	if c := Find[*CP](ps); c != nil && c.CfgType == CPRequest && sa.ident.ModeConfig != nil && sa.ident.ModeConfig.Responder {
		mc := sa.ident.ModeConfig
		if st.addr.IsValid() {
			// Framed-IP-Address from RADIUS overrides the pool.
			fixed := *mc
			fixed.Address, fixed.Allocate = st.addr, nil
			mc = &fixed
		}
		reply, err := sa.giveConfig(mc, c)
		if err != nil {
			sa.d.log.Warn("ipsec: no mode config address for the peer", "peer", sa.peer.Name, "err", err)
			sa.respond(h.Exchange, h.MsgID, append(out, &Notify{NType: NotifyInternalAddressFailure}))
			sa.setEstablished()
			sa.eapAccountStart()
			return
		}
		out = append(out, reply)
	}
	sa.setEstablished()
	sa.d.log.Info("ipsec: EAP authentication succeeded", "peer", sa.peer.Name, "remote", sa.remote.Addr(), "user", st.user)
	sa.eapAccountStart()
	if Find[*SA](ps) != nil {
		cps, c := sa.acceptChild(ps, sa.ni, sa.nr, nil)
		sa.answerWithChild(h, append(out, cps...), c, nil)
		return
	}
	sa.respond(h.Exchange, h.MsgID, out)
}

// eapAccountStart sends the accounting start of an eap-radius IKE SA.
func (sa *IKESA) eapAccountStart() {
	st := sa.eap
	relay := sa.d.opts.EAPRelay
	if relay == nil || st == nil || st.user == "" {
		return
	}
	var b [8]byte
	rand.Read(b[:])
	st.sessionID, st.started = fmt.Sprintf("%X", b), time.Now()
	a := EAPAccounting{Start: true, SessionID: st.sessionID, User: st.user, Peer: sa.remote, Local: sa.local, Address: sa.vip}
	sa.d.spawn("EAP accounting", false, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		relay.Account(ctx, a)
	})
}

// eapEnded sends the accounting stop when an accounted IKE SA goes (d.mu held).
func (sa *IKESA) eapEnded(established bool, why string) {
	st := sa.eap
	if st != nil && sa.d.heldElsewhere(sa, func(o *IKESA) bool { return o.eap == st }) {
		return // a rekey's successor carries the session on
	}
	if st != nil && st.peer != nil {
		st.peer.Close()
	}
	relay := sa.d.opts.EAPRelay
	if st == nil || relay == nil || st.sessionID == "" || !established {
		return
	}
	a := EAPAccounting{SessionID: st.sessionID, User: st.user, Peer: sa.remote, Local: sa.local, Address: sa.vip,
		Duration: time.Since(st.started), Cause: why, In: st.in, Out: st.out}
	st.sessionID = ""
	sa.d.spawn("EAP accounting", false, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		relay.Account(ctx, a)
	})
}

// sendAuthEAP sends the initiator's first IKE_AUTH of auth-method=eap: no AUTH, EAP-only
// offered (RFC 5998), the first CHILD_SA proposed.
func (sa *IKESA) sendAuthEAP() {
	sa.myID = sa.localIdentity()
	ps := []Payload{&ID{IDType: sa.myID.Type, Data: sa.myID.Data}}
	if sa.initialContactDue() {
		ps = append(ps, &Notify{NType: NotifyInitialContact})
	}
	if id := sa.ident.RemoteID; !id.Auto && !id.Ignore {
		ps = append(ps, &ID{Responder: true, IDType: id.ID.Type, Data: id.ID.Data})
	}
	ps = append(ps, &Notify{NType: NotifyEAPOnlyAuthentication})
	if sa.ident.Verifier != nil {
		// Ask for the responder's certificate (strongSwan sends it only when asked).
		ps = append(ps, sa.certReq()...)
	}
	ps = append(ps, sa.firstChildRequest()...)
	methods := sa.ident.EAPMethods
	if len(methods) == 0 {
		methods = []eap.Type{eap.TypeMSCHAPv2}
	}
	sa.eap = &eapState{peer: &eap.Peer{Methods: methods, User: sa.ident.EAPUser, Password: sa.ident.EAPPassword,
		Identity: sa.eapIdentity(), TLS: sa.eapTLS()}}
	sa.request(IKEAuth, ps, sa.eapResponse, func() { sa.fail("malformed IKE_AUTH response") })
}

// eapFail ends an initiator's EAP exchange.
func (sa *IKESA) eapFail(why string) {
	sa.d.Stats.AuthFailed.Add(1)
	sa.d.log.Warn("ipsec: EAP authentication failed", "peer", sa.peer.Name, "remote", sa.remote.Addr(), "user", sa.eapIdentity(), "reason", why)
	sa.destroy("EAP authentication failed")
}

// eapResponse handles the responder's IKE_AUTH responses as EAP initiator.
func (sa *IKESA) eapResponse(ps []Payload) {
	st := sa.eap
	for _, n := range Notifies(ps) {
		if n.NType == NotifyAuthenticationFailed {
			sa.eapFail("peer reports AUTHENTICATION_FAILED")
			return
		}
	}
	if idr, _ := FindType(ps, PayloadIDr).(*ID); idr != nil && len(sa.remoteID.Data) == 0 {
		rid := Identity{Type: idr.IDType, Data: idr.Data}
		if !sa.remoteIDMatches(sa.ident, rid) {
			sa.eapFail("peer's identity " + rid.String() + " does not match remote-id")
			return
		}
		sa.remoteID, sa.remoteIDBody = rid, idr.body(nil)
	}
	auth := Find[*Auth](ps)
	if st.success {
		// The final response: the responder's AUTH keyed with the MSK.
		if auth == nil || auth.Method != AuthPSK || !hmac.Equal(auth.Data, sa.authData(st.msk, false, sa.remoteIDBody)) {
			sa.eapFail("responder's AUTH keyed with the EAP MSK does not verify")
			return
		}
		sa.eapEstablished(ps)
		return
	}
	if auth != nil {
		// The responder authenticated itself before EAP (no EAP-only): with a
		// certificate checked against /certificate, or with the identity's secret.
		switch {
		case auth.Method != AuthPSK && sa.ident.Verifier != nil:
			sig := *sa.ident
			sig.Method = AuthMethodSignature
			if why := sa.checkPeerAuth(&sig, auth, sa.remoteID, sa.remoteIDBody, ps, false); why != "" {
				sa.eapFail("responder: " + why)
				return
			}
		case auth.Method != AuthPSK || len(sa.ident.PSK) == 0:
			sa.eapFail(fmt.Sprintf("cannot verify the responder's AUTH (method %d): no certificate store and no secret=", auth.Method))
			return
		case !hmac.Equal(auth.Data, sa.authData(sa.ident.PSK, false, sa.remoteIDBody)):
			sa.eapFail("responder's AUTH does not verify: pre-shared key mismatch")
			return
		}
		st.responderOK = true
	}
	e := Find[*EAP](ps)
	if e == nil {
		for _, n := range Notifies(ps) {
			if n.NType.IsError() {
				sa.eapFail("peer answered IKE_AUTH with " + notifyName(n.NType))
				return
			}
		}
		sa.d.Stats.Malformed.Add(1)
		sa.eapFail("IKE_AUTH response without EAP")
		return
	}
	p, err := eap.Parse(e.Data)
	if err != nil {
		sa.d.Stats.Malformed.Add(1)
		sa.eapFail(err.Error())
		return
	}
	resp, err := st.peer.Handle(p)
	if err != nil {
		if resp != nil {
			// Acknowledge the MS-CHAPv2 failure; nothing waits for the answer.
			sa.request(IKEAuth, []Payload{&EAP{Data: resp.Marshal()}}, nil, nil)
		}
		sa.eapFail(err.Error())
		return
	}
	if p.Code == eap.CodeSuccess {
		st.success, st.msk = true, st.peer.MSK
		sa.request(IKEAuth, []Payload{&Auth{Method: AuthPSK, Data: sa.authData(st.msk, true, idBody(sa.myID))}},
			sa.eapResponse, func() { sa.fail("malformed IKE_AUTH response") })
		return
	}
	sa.request(IKEAuth, []Payload{&EAP{Data: resp.Marshal()}}, sa.eapResponse, func() { sa.fail("malformed IKE_AUTH response") })
}

// eapEstablished completes the IKE SA and the first CHILD_SA from the final response.
func (sa *IKESA) eapEstablished(ps []Payload) {
	if c := Find[*CP](ps); c != nil && c.CfgType == CPReply {
		sa.takeConfig(c)
	}
	sa.setEstablished()
	sa.d.log.Info("ipsec: EAP authentication succeeded", "peer", sa.peer.Name, "remote", sa.remote.Addr(), "user", sa.eapIdentity())
	if cp := sa.pendingFirst; cp != nil {
		sa.pendingFirst = nil
		c := sa.completeChild(cp, ps, sa.ni, sa.nr)
		if sa.done != nil {
			if c != nil {
				sa.done <- nil
			} else {
				sa.done <- fmt.Errorf("CHILD SA refused")
			}
			sa.done = nil
		}
	}
	for _, c := range sa.peer.Children[min(1, len(sa.peer.Children)):] {
		sa.createChild(c)
	}
}
