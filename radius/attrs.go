package radius

import (
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"fmt"

	"layeh.com/radius"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/vendors/microsoft"
)

// Errors callers and tests tell apart.
var (
	ErrBadAuthenticator = errors.New("bad authenticator")
	ErrNoMessageAuth    = errors.New("Message-Authenticator missing")
	ErrBadMessageAuth   = errors.New("Message-Authenticator does not verify")
	ErrNoServer         = errors.New("no RADIUS server for the service")
	ErrTimeout          = errors.New("no answer from any RADIUS server")
	ErrMalformed        = errors.New("malformed RADIUS packet")
)

const attrMessageAuthenticator = rfc2869.MessageAuthenticator_Type

// maxEAPAttr is the value bytes one EAP-Message attribute carries.
const maxEAPAttr = 253

// SetEAPMessage replaces the packet's EAP-Message attributes by eap split over as many
// attributes as it needs (RFC 3579 3.1).
func SetEAPMessage(p *radius.Packet, eap []byte) {
	p.Del(rfc2869.EAPMessage_Type)
	for len(eap) > 0 {
		n := min(len(eap), maxEAPAttr)
		p.Add(rfc2869.EAPMessage_Type, radius.Attribute(append([]byte(nil), eap[:n]...)))
		eap = eap[n:]
	}
}

// EAPMessage joins the packet's EAP-Message attributes, in order; nil when there is none.
func EAPMessage(p *radius.Packet) []byte {
	var out []byte
	for _, a := range p.Attributes {
		if a.Type == rfc2869.EAPMessage_Type {
			out = append(out, a.Attribute...)
		}
	}
	return out
}

// hasAttr reports whether the packet carries an attribute of type t.
func hasAttr(p *radius.Packet, t radius.Type) bool {
	_, ok := p.Lookup(t)
	return ok
}

// signMessageAuth sets the Message-Authenticator of p, whose Authenticator field holds
// what RFC 3579 3.2 hashes (the Request Authenticator of the request being answered for
// replies, zeros for Accounting-Requests, the packet's own for Access-Requests).
func signMessageAuth(p *radius.Packet, auth [16]byte) error {
	p.Set(attrMessageAuthenticator, make(radius.Attribute, 16))
	saved := p.Authenticator
	p.Authenticator = auth
	b, err := p.MarshalBinary()
	p.Authenticator = saved
	if err != nil {
		return err
	}
	m := hmac.New(md5.New, p.Secret)
	m.Write(b)
	p.Set(attrMessageAuthenticator, m.Sum(nil))
	return nil
}

// checkMessageAuth verifies the Message-Authenticator of the raw packet b against auth
// (what stands in its Authenticator field while hashing). Absent: ErrNoMessageAuth.
func checkMessageAuth(b []byte, secret []byte, auth []byte) error {
	if len(b) < 20 {
		return ErrMalformed
	}
	c := append([]byte(nil), b...)
	copy(c[4:20], auth)
	found := -1
	for i := 20; i+2 <= len(c); {
		l := int(c[i+1])
		if l < 2 || i+l > len(c) {
			return ErrMalformed
		}
		if c[i] == byte(attrMessageAuthenticator) {
			if l != 18 {
				return fmt.Errorf("%w: length %d", ErrBadMessageAuth, l)
			}
			found = i + 2
		}
		i += l
	}
	if found < 0 {
		return ErrNoMessageAuth
	}
	got := append([]byte(nil), c[found:found+16]...)
	clear(c[found : found+16])
	m := hmac.New(md5.New, secret)
	m.Write(c)
	if !hmac.Equal(m.Sum(nil), got) {
		return ErrBadMessageAuth
	}
	return nil
}

// MSK is the EAP master session key a RADIUS server sends in MS-MPPE-Recv-Key and
// MS-MPPE-Send-Key (RFC 3748's MSK, as RFC 3579 and strongSwan's eap-radius take it: the
// receive key, then the send key). resp is the Access-Accept, req the request it answers.
func MSK(resp, req *radius.Packet) ([]byte, error) {
	recv, err := microsoft.MSMPPERecvKey_Lookup(resp, req)
	if err != nil {
		return nil, fmt.Errorf("MS-MPPE-Recv-Key: %w", err)
	}
	send, err := microsoft.MSMPPESendKey_Lookup(resp, req)
	if err != nil {
		return nil, fmt.Errorf("MS-MPPE-Send-Key: %w", err)
	}
	return append(append([]byte(nil), recv...), send...), nil
}

// SetMPPEKeys adds the encrypted MS-MPPE-Recv-Key and MS-MPPE-Send-Key to resp, whose
// Authenticator still holds the request's.
func SetMPPEKeys(resp *radius.Packet, recv, send []byte) error {
	if err := microsoft.MSMPPERecvKey_Add(resp, recv); err != nil {
		return err
	}
	return microsoft.MSMPPESendKey_Add(resp, send)
}
