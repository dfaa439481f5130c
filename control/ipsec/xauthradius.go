package ipsec

import (
	"context"
	"net/netip"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/routerd/routerd/ike"
	rad "github.com/routerd/routerd/radius"
)

// xauthUseRADIUS reads /ip ipsec settings xauth-use-radius (default no).
func (e *Engine) xauthUseRADIUS() bool {
	items, err := e.ex.Items(SettingsPath)
	if err != nil || len(items) == 0 {
		return false
	}
	v := items[0].Props["xauth-use-radius"]
	return v == "yes" || v == "true"
}

// xauthRADIUS is the XAuth check of xauth-use-radius=yes: a login /ip ipsec user does
// not know goes to the /radius servers of service=ipsec as a PAP Access-Request (the
// password hidden as RFC 2865 5.2 says); Access-Accept lets the peer in, with its
// Framed-IP-Address as the mode config address when the server sends one. nil when
// the setting is off or there is no RADIUS client.
func (e *Engine) xauthRADIUS() ike.XAuthChecker {
	if e.opts.RADIUS == nil || !e.xauthUseRADIUS() {
		return nil
	}
	client := e.opts.RADIUS
	return func(ctx context.Context, user, password string, peer, local netip.AddrPort) (bool, netip.Addr, string, error) {
		rep, err := client.Authenticate(ctx, "ipsec", func(p *radius.Packet, s rad.Server) error {
			rfc2865.UserName_SetString(p, user)
			if err := rfc2865.UserPassword_SetString(p, password); err != nil {
				return err
			}
			rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_FramedUser)
			rfc2865.NASPortType_Set(p, rfc2865.NASPortType_Value_Virtual)
			rfc2865.CallingStationID_SetString(p, peer.Addr().String())
			rfc2865.CalledStationID_SetString(p, local.Addr().String())
			if a := local.Addr(); a.Is4() {
				rfc2865.NASIPAddress_Set(p, a.AsSlice())
			}
			return nil
		})
		if err != nil {
			return false, netip.Addr{}, "", err
		}
		if rep.Code != radius.CodeAccessAccept {
			why := "Access-Reject from RADIUS server " + rep.Server.Addr.String()
			if m := rfc2865.ReplyMessage_GetString(rep.Packet); m != "" {
				why += ": " + m
			}
			return false, netip.Addr{}, why, nil
		}
		var addr netip.Addr
		if a := rfc2865.FramedIPAddress_Get(rep.Packet); a != nil {
			addr, _ = netip.AddrFromSlice(a.To4())
		}
		return true, addr, "", nil
	}
}
