package ike

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// XAuthChecker checks an XAuth login the identity's own users do not know (RouterOS's
// xauth-use-radius=yes: a PAP Access-Request to /radius service=ipsec). It is called
// without the daemon's lock and may block; addr is an address the server assigned
// (Framed-IP-Address), invalid for none; why says why a login was refused.
type XAuthChecker func(ctx context.Context, user, password string, peer, local netip.AddrPort) (ok bool, addr netip.Addr, why string, err error)

// v1XAuthRemote asks XAuthCheck about a login and answers the peer when it knows
// (d.mu held; released while the check runs).
func (sa *IKESA) v1XAuthRemote(c *v1Cfg, password string) {
	check, user, peer, local := sa.ident.XAuthCheck, c.user, sa.remote, sa.local
	sa.d.spawn("XAuth RADIUS check", false, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ok, addr, why, err := check(ctx, user, password, peer, local)
		cancel()
		sa.d.mu.Lock()
		defer sa.d.mu.Unlock()
		if sa.d.closed || sa.state == stateDead || c.xauthDone {
			return
		}
		if err != nil {
			sa.d.log.Warn("ipsec: XAuth check through RADIUS failed", "peer", sa.peer.Name, "user", user, "err", err)
		} else if !ok && why != "" {
			sa.d.log.Info("ipsec: XAuth login refused by RADIUS", "peer", sa.peer.Name, "user", user, "reason", why)
		}
		if ok && addr.IsValid() {
			sa.vip = addr
		}
		if ok && err == nil && sa.eap == nil {
			// Accounted as RADIUS logins are (settings accounting=), through the
			// same relay as eap-radius: xauthAccountStart starts it.
			sa.eap = &eapState{user: user}
		}
		sa.v1XAuthVerdict(c, ok && err == nil)
	})
}

// v1XAuthVerdict sends the XAuth status (RFC draft-beaulieu-ike-xauth 6.2: SET with
// XAUTH-STATUS) for a checked login.
func (sa *IKESA) v1XAuthVerdict(c *v1Cfg, ok bool) {
	c.xauthOK = ok
	status := []byte{0, 0}
	if ok {
		status[1] = 1
	} else {
		sa.d.Stats.AuthFailed.Add(1)
		sa.d.rosLog(slog.LevelWarn, fmt.Sprintf("%s xauth user %q authentication failed", sa.remote.Addr(), c.user))
	}
	sa.v1CfgStart(&v1CfgPayload{Type: v1CfgSet, Attrs: []v1CfgAttr{{Type: v1XAuthStatus, TV: true, Value: status}}})
}

// xauthAccountStart sends the accounting Start of a login RADIUS let in, once the peer
// has its address (mode config) or acknowledged the XAuth status when it gets none
// (d.mu held). The Stop goes with the IKE SA (eapEnded).
func (sa *IKESA) xauthAccountStart() {
	if st := sa.eap; st != nil && st.user != "" && st.sessionID == "" && st.peer == nil {
		sa.eapAccountStart()
	}
}
