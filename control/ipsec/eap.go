package ipsec

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"github.com/routerd/routerd/control/value"
	"github.com/routerd/routerd/eap"
	"github.com/routerd/routerd/ike"
	rad "github.com/routerd/routerd/radius"
)

// eapMethods are the eap-methods the initiator speaks.
var eapMethods = map[string]eap.Type{"eap-mschapv2": eap.TypeMSCHAPv2, "eap-tls": eap.TypeTLS, "eap-ttls": eap.TypeTTLS, "eap-peap": eap.TypePEAP}

// eapIdentity fills in the EAP part of an identity (auth-method eap or eap-radius).
func eapIdentity(p identityItem, ic *ike.IdentityConfig, haveRADIUS bool) error {
	switch ic.Method {
	case ike.AuthMethodEAP:
		ic.EAPMethods = nil
		password := false
		methods := p.EAPMethods
		if len(methods) == 0 {
			methods = []string{""} // eap-methods="": refused below, as before
		}
		for _, m := range methods {
			t, ok := eapMethods[m]
			if !ok {
				return fmt.Errorf("eap-methods=%s: %s is not implemented (eap-mschapv2, eap-tls, eap-ttls and eap-peap are)", strings.Join(p.EAPMethods, ","), m)
			}
			ic.EAPMethods = append(ic.EAPMethods, t)
			password = password || t != eap.TypeTLS
		}
		if password && (p.Username == "" || p.Password == "") {
			return errors.New("auth-method=eap needs username and password (eap-methods other than eap-tls)")
		}
		ic.EAPUser, ic.EAPPassword = p.Username, p.Password
	case ike.AuthMethodEAPRadius:
		if !haveRADIUS {
			return errors.New("auth-method=eap-radius needs the RADIUS client")
		}
	}
	return nil
}

// radiusRelay relays eap-radius identities' EAP to the /radius servers of service=ipsec
// (RFC 3579) and sends their accounting (RFC 2866) when /ip ipsec settings accounting=yes.
type radiusRelay struct {
	e      *Engine
	client *rad.Client

	mu       sync.Mutex
	sessions map[string]*acctSession // started, by Acct-Session-Id
}

// acctSession is an accounted IKE SA, for interim updates.
type acctSession struct {
	start ike.EAPAccounting
	at    time.Time // started
	last  time.Time // last start or interim sent
}

// interim sends Interim-Update for the open sessions every /ip ipsec settings
// interim-update (none when it is unset or zero), until ctx ends.
func (r *radiusRelay) interim(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			every := r.e.interimUpdate()
			if every <= 0 || !r.e.accounting() {
				continue
			}
			var due []ike.EAPAccounting
			r.mu.Lock()
			for _, s := range r.sessions {
				if now.Sub(s.last) >= every {
					s.last = now
					a := s.start
					a.Start, a.Duration = false, now.Sub(s.at)
					due = append(due, a)
				}
			}
			r.mu.Unlock()
			for _, a := range due {
				// The running total of the IKE SA's CHILD_SAs, as Stop carries it.
				if d := r.e.d; d != nil {
					a.In, a.Out, _ = d.EAPTraffic(a.SessionID)
				}
				actx, cancel := context.WithTimeout(ctx, 5*time.Second)
				r.send(actx, a, rfc2866.AcctStatusType_Value_InterimUpdate)
				cancel()
			}
		}
	}
}

// Relay sends one EAP response in an Access-Request.
func (r *radiusRelay) Relay(ctx context.Context, q ike.EAPRelayRequest) (ike.EAPRelayAnswer, error) {
	rep, err := r.client.Authenticate(ctx, "ipsec", func(p *radius.Packet, s rad.Server) error {
		rfc2865.UserName_SetString(p, q.Identity)
		rad.SetEAPMessage(p, q.EAP)
		if len(q.State) > 0 {
			rfc2865.State_Set(p, q.State)
		}
		rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_FramedUser)
		rfc2865.NASPortType_Set(p, rfc2865.NASPortType_Value_Virtual)
		rfc2865.CallingStationID_SetString(p, q.Peer.Addr().String())
		rfc2865.CalledStationID_SetString(p, q.Local.Addr().String())
		if a := q.Local.Addr(); a.Is4() {
			rfc2865.NASIPAddress_Set(p, a.AsSlice())
		}
		return nil
	})
	if err != nil {
		return ike.EAPRelayAnswer{}, err
	}
	ans := ike.EAPRelayAnswer{EAP: rad.EAPMessage(rep.Packet), State: rfc2865.State_Get(rep.Packet)}
	switch rep.Code {
	case radius.CodeAccessAccept:
		ans.Accept = true
		if ans.MSK, err = rad.MSK(rep.Packet, rep.Request); err != nil {
			return ike.EAPRelayAnswer{}, fmt.Errorf("Access-Accept from %s: %w", rep.Server.Addr, err)
		}
		if a := rfc2865.FramedIPAddress_Get(rep.Packet); a != nil {
			ans.Address, _ = netip.AddrFromSlice(a.To4())
		}
	case radius.CodeAccessReject:
		ans.Reason = "Access-Reject from RADIUS server " + rep.Server.Addr.String()
		if m := rfc2865.ReplyMessage_GetString(rep.Packet); m != "" {
			ans.Reason += ": " + m
		}
	case radius.CodeAccessChallenge:
		if len(ans.EAP) == 0 {
			return ike.EAPRelayAnswer{}, fmt.Errorf("Access-Challenge from %s without EAP-Message", rep.Server.Addr)
		}
	}
	return ans, nil
}

// Account sends Accounting-Request Start or Stop and keeps the open sessions for
// interim updates.
func (r *radiusRelay) Account(ctx context.Context, a ike.EAPAccounting) {
	r.mu.Lock()
	if a.Start {
		now := time.Now()
		r.sessions[a.SessionID] = &acctSession{start: a, at: now, last: now}
	} else {
		delete(r.sessions, a.SessionID)
	}
	r.mu.Unlock()
	if !r.e.accounting() {
		return
	}
	typ := rfc2866.AcctStatusType_Value_Stop
	if a.Start {
		typ = rfc2866.AcctStatusType_Value_Start
	}
	r.send(ctx, a, typ)
}

// send sends one Accounting-Request.
func (r *radiusRelay) send(ctx context.Context, a ike.EAPAccounting, typ rfc2866.AcctStatusType) {
	err := r.client.Account(ctx, "ipsec", func(p *radius.Packet) error {
		rfc2866.AcctStatusType_Set(p, typ)
		rfc2866.AcctSessionID_SetString(p, a.SessionID)
		rfc2865.UserName_SetString(p, a.User)
		rfc2865.NASPortType_Set(p, rfc2865.NASPortType_Value_Virtual)
		rfc2865.CallingStationID_SetString(p, a.Peer.Addr().String())
		rfc2865.CalledStationID_SetString(p, a.Local.Addr().String())
		if a.Local.Addr().Is4() {
			rfc2865.NASIPAddress_Set(p, a.Local.Addr().AsSlice())
		}
		if a.Address.Is4() {
			rfc2865.FramedIPAddress_Set(p, a.Address.AsSlice())
		}
		if typ != rfc2866.AcctStatusType_Value_Start {
			rfc2866.AcctSessionTime_Set(p, rfc2866.AcctSessionTime(a.Duration.Seconds()))
		}
		if typ != rfc2866.AcctStatusType_Value_Start {
			// The CHILD_SAs' traffic (input: from the user), 64-bit with Gigawords.
			rfc2866.AcctInputOctets_Set(p, rfc2866.AcctInputOctets(uint32(a.In.Bytes)))
			rfc2869.AcctInputGigawords_Set(p, rfc2869.AcctInputGigawords(uint32(a.In.Bytes>>32)))
			rfc2866.AcctInputPackets_Set(p, rfc2866.AcctInputPackets(uint32(a.In.Packets)))
			rfc2866.AcctOutputOctets_Set(p, rfc2866.AcctOutputOctets(uint32(a.Out.Bytes)))
			rfc2869.AcctOutputGigawords_Set(p, rfc2869.AcctOutputGigawords(uint32(a.Out.Bytes>>32)))
			rfc2866.AcctOutputPackets_Set(p, rfc2866.AcctOutputPackets(uint32(a.Out.Packets)))
		}
		if typ == rfc2866.AcctStatusType_Value_Stop {
			rfc2866.AcctTerminateCause_Set(p, rfc2866.AcctTerminateCause_Value_NASRequest)
			if strings.Contains(a.Cause, "peer") {
				rfc2866.AcctTerminateCause_Set(p, rfc2866.AcctTerminateCause_Value_UserRequest)
			}
		}
		rfc2869.NASPortID_SetString(p, "ipsec")
		return nil
	})
	if err != nil {
		r.e.log.Warn("ipsec: RADIUS accounting failed", "user", a.User, "err", err)
	}
}

// interimUpdate reads /ip ipsec settings interim-update (0: none).
func (e *Engine) interimUpdate() time.Duration {
	items, err := e.ex.Items(SettingsPath)
	if err != nil || len(items) == 0 {
		return 0
	}
	d, err := value.ParseDuration(items[0].Props["interim-update"])
	if err != nil {
		return 0
	}
	return d
}

// accounting reads /ip ipsec settings accounting (default yes).
func (e *Engine) accounting() bool {
	items, err := e.ex.Items(SettingsPath)
	if err != nil || len(items) == 0 {
		return true
	}
	v, ok := items[0].Props["accounting"]
	return !ok || v == "yes" || v == "true"
}
