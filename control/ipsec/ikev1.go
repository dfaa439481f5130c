package ipsec

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/routerd/routerd/ike"
)

// IKEv1 parts of the configuration: XAuth identities and /ip ipsec user.

type xauthUser struct {
	password string
	address  netip.Addr
}

// ikev1Method refuses the authentication methods an exchange mode does not have:
// EAP on IKEv1, rsa-signature-hybrid on IKEv2 and in base mode (its initiator has no
// signature to send with its KE).
func ikev1Method(method string, pc *ike.PeerConfig) error {
	switch {
	case pc.Exchange == ike.ExchangeIKEv2:
		if method == "rsa-signature-hybrid" {
			return errors.New("rsa-signature-hybrid is IKEv1 only (exchange-mode main or aggressive)")
		}
		return nil
	case method == "pre-shared-key" || method == "pre-shared-key-xauth":
		return nil
	case pc.Exchange == ike.ExchangeBase && method == "rsa-signature-hybrid":
		return fmt.Errorf("auth-method=%s with exchange-mode=base is not supported (base mode takes pre-shared-key, pre-shared-key-xauth, rsa-key and digital-signature)", method)
	case method == "digital-signature" || method == "rsa-key" || method == "rsa-signature-hybrid":
		return nil
	}
	return fmt.Errorf("auth-method=%s is IKEv2 only (exchange-mode=ike2)", method)
}

// xauthIdentity makes an identity pre-shared-key-xauth: an initiator (passive=no) logs
// in with the identity's username and password, a responder (passive=yes) checks
// /ip ipsec user, as the reference's peer passive property says.
func xauthIdentity(ic *ike.IdentityConfig, p identityItem, pc *ike.PeerConfig, users map[string]xauthUser) error {
	if pc.Exchange == ike.ExchangeIKEv2 {
		return fmt.Errorf("%s is IKEv1 only (exchange-mode main or aggressive)", p.AuthMethod)
	}
	ic.Method = ike.AuthMethodPSKXAuth
	if p.AuthMethod == "rsa-signature-hybrid" {
		// The responder signs with its certificate, the initiator logs in with XAuth.
		ic.Method = ike.AuthMethodRSAHybrid
		if pc.Passive && ic.Cert == nil {
			return errors.New("rsa-signature-hybrid responder (passive=yes) needs certificate=")
		}
	}
	if !pc.Passive {
		if p.Username == "" {
			return fmt.Errorf("%s initiator needs username and password", p.AuthMethod)
		}
		ic.EAPUser, ic.EAPPassword = p.Username, p.Password
		return nil
	}
	ic.XAuthUsers = func(name string) (string, netip.Addr, bool) {
		u, ok := users[name]
		return u.password, u.address, ok
	}
	return nil
}

// anyFamilyTwin is the IPv4 twin of a template whose side is ::/0: RouterOS's default
// template (group=default src-address=::/0 dst-address=::/0) generates IPv4 policies
// too, so road warriors get theirs without a template of their own. nil when the
// template has no ::/0 side. Both are flagged AnyFamily.
func anyFamilyTwin(cc *ike.ChildConfig) *ike.ChildConfig {
	all6 := ike.SelectorFromPrefix(netip.MustParsePrefix("::/0"), 0, 0)
	isAll6 := func(s ike.Selector) bool { return s.Start == all6.Start && s.End == all6.End }
	if !isAll6(cc.Local) && !isAll6(cc.Remote) {
		return nil
	}
	twin := *cc
	twin.AnyFamily = true
	all4 := netip.MustParsePrefix("0.0.0.0/0")
	if isAll6(cc.Local) {
		twin.Local = ike.SelectorFromPrefix(all4, cc.Local.IPProto, 0)
		twin.Local.StartPort, twin.Local.EndPort = cc.Local.StartPort, cc.Local.EndPort
	}
	if isAll6(cc.Remote) {
		twin.Remote = ike.SelectorFromPrefix(all4, cc.Remote.IPProto, 0)
		twin.Remote.StartPort, twin.Remote.EndPort = cc.Remote.StartPort, cc.Remote.EndPort
	}
	if twin.Local.Start.Is4() != twin.Remote.Start.Is4() {
		return nil
	}
	cc.AnyFamily = true
	return &twin
}
