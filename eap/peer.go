package eap

import (
	"crypto/tls"
	"fmt"
	"slices"
)

// Peer is the peer side of a conversation with whichever of Methods the authenticator
// asks for: it answers the identity request, Naks a method it was not given with its
// list (RFC 3748 5.3.1), and runs the method asked for.
type Peer struct {
	Methods []Type
	// Identity is the EAP identity (User when empty); User and Password are the
	// credentials of EAP-MSCHAPv2 and of the tunnelled methods' inner MS-CHAPv2.
	Identity, User, Password string
	// TLS verifies the server (EAP-TLS, EAP-TTLS, PEAP) and carries the client
	// certificate (EAP-TLS).
	TLS *tls.Config
	// MSK is set after EAP-Success.
	MSK []byte

	cur interface {
		Handle(*Packet) (*Packet, error)
	}
	curType Type
}

// Method is the method in use (0 before the authenticator picked one).
func (c *Peer) Method() Type { return c.curType }

// Close ends a TLS method's program.
func (c *Peer) Close() {
	if t, ok := c.cur.(*TLSPeer); ok {
		t.Close()
	}
}

// Handle answers one EAP packet, as MSCHAPv2Peer.Handle.
func (c *Peer) Handle(p *Packet) (*Packet, error) {
	if p.Code == CodeRequest && p.Type != TypeIdentity && p.Type != TypeNotification && p.Type != c.curType {
		if c.curType != 0 || !slices.Contains(c.Methods, p.Type) {
			nak := make([]byte, 0, len(c.Methods))
			for _, m := range c.Methods {
				nak = append(nak, byte(m))
			}
			if c.curType != 0 {
				return nil, fmt.Errorf("%w: %s request during %s", ErrMalformed, MethodName(p.Type), MethodName(c.curType))
			}
			return &Packet{Code: CodeResponse, ID: p.ID, Type: TypeNak, Data: nak}, nil
		}
		c.curType = p.Type
		if p.Type == TypeMSCHAPv2 {
			c.cur = &MSCHAPv2Peer{User: c.User, Password: c.Password}
		} else {
			c.cur = &TLSPeer{Type: p.Type, Identity: c.Identity, User: c.User, Password: c.Password, Config: c.TLS}
		}
	}
	if p.Code == CodeRequest && (p.Type == TypeIdentity || p.Type == TypeNotification) {
		resp := &Packet{Code: CodeResponse, ID: p.ID, Type: p.Type}
		if p.Type == TypeIdentity {
			id := c.Identity
			if id == "" {
				id = c.User
			}
			resp.Data = []byte(id)
		}
		return resp, nil
	}
	if c.cur == nil {
		if p.Code == CodeFailure {
			return nil, fmt.Errorf("%w: EAP-Failure from the authenticator", ErrAuth)
		}
		return nil, fmt.Errorf("%w: %v before any method", ErrMalformed, p)
	}
	resp, err := c.cur.Handle(p)
	if p.Code == CodeSuccess && err == nil {
		switch m := c.cur.(type) {
		case *MSCHAPv2Peer:
			c.MSK = m.MSK
		case *TLSPeer:
			c.MSK = m.MSK
		}
	}
	return resp, err
}
