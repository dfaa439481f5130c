package usermanager

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/routerd/routerd/eap"
	rad "github.com/routerd/routerd/radius"
)

// FuzzRequest: whatever a NAS holding the shared secret sends (the Responder has
// checked the authenticators by then), the request handlers answer or refuse without
// panicking, and the EAP conversations and accounting sessions they keep stay bounded.
func FuzzRequest(f *testing.F) {
	seed := func(build func(p *radius.Packet)) {
		p := radius.New(radius.CodeAccessRequest, []byte("s"))
		build(p)
		b, _ := p.Encode()
		f.Add(b, b)
	}
	seed(func(p *radius.Packet) {
		rfc2865.UserName_SetString(p, "u1")
		rfc2865.UserPassword_SetString(p, "pw")
	})
	seed(func(p *radius.Packet) {
		rfc2865.UserName_SetString(p, "u1")
		rad.SetEAPMessage(p, (&eap.Packet{Code: eap.CodeResponse, ID: 1, Type: eap.TypeIdentity, Data: []byte("u1")}).Marshal())
	})
	seed(func(p *radius.Packet) {
		rfc2865.UserName_SetString(p, "u1")
		rfc2865.CHAPChallenge_Set(p, []byte("0123456789abcdef"))
		rfc2865.CHAPPassword_Set(p, make([]byte, 17))
	})
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		e := New(Options{})
		e.cfg.Store(&config{users: map[string]*user{"u1": {userItem: userItem{Name: "u1", Group: "g", Password: "pw"},
			nt: eap.NTHash("pw"), outer: []string{"pap", "chap", "mschap1", "mschap2", "eap-mschap2", "eap-ttls"},
			inner: []string{"ttls-pap", "ttls-chap", "ttls-mschap1", "ttls-mschap2"}}}})
		from := netip.MustParseAddrPort("127.0.0.1:1")
		var state []byte
		for _, b := range [][]byte{first, second} {
			p, err := radius.Parse(b, []byte("s"))
			if err != nil {
				continue
			}
			if state != nil && rfc2865.State_Get(p) == nil {
				rfc2865.State_Set(p, state)
			}
			q := &rad.Request{Packet: p, From: from, NAS: "nas"}
			if r := e.auth(context.Background(), q); r != nil {
				state = rfc2865.State_Get(r)
			}
			e.acct(context.Background(), q)
		}
		if len(e.convs) > 4096 || len(e.sessions) > maxSessions {
			t.Fatalf("%d conversations, %d sessions", len(e.convs), len(e.sessions))
		}
	})
}
