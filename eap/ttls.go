package eap

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"layeh.com/radius/rfc2759"
)

// EAP-TTLSv0 (RFC 5281): the tunnel carries Diameter-style AVPs; routerd authenticates
// PAP (User-Password, 11.2.5), CHAP (11.2.2), MS-CHAP (11.2.3) and MS-CHAPv2 (11.2.4),
// the challenges from the tunnel keys, and EAP-MSCHAPv2 in EAP-Message AVPs (11.2.1).

// AVP codes used in the tunnel (RFC 5281 10, RFC 2548 vendor 311).
const (
	avpUserName      = 1
	avpUserPassword  = 2
	avpCHAPPassword  = 3
	avpCHAPChallenge = 60
	avpMSCHAPResp    = 1 // vendor 311
	avpEAPMessage    = 79
	avpMSCHAP2Resp   = 25 // vendor 311
	avpMSCHAP2Succ   = 26 // vendor 311
	avpMSCHAPError   = 2  // vendor 311
	avpMSCHAPChal    = 11 // vendor 311
	vendorMicrosoft  = 311
	avpFlagVendor    = 0x80
	avpFlagMandatory = 0x40
)

type avp struct {
	code   uint32
	vendor uint32
	data   []byte
}

// parseAVPs decodes the AVPs of one tunnel message (RFC 5281 10.1).
func parseAVPs(b []byte) ([]avp, error) {
	var out []avp
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("%w: short AVP header", ErrMalformed)
		}
		a := avp{code: binary.BigEndian.Uint32(b)}
		flags := b[4]
		l := int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		h := 8
		if flags&avpFlagVendor != 0 {
			if len(b) < 12 {
				return nil, fmt.Errorf("%w: short vendor AVP", ErrMalformed)
			}
			a.vendor = binary.BigEndian.Uint32(b[8:])
			h = 12
		}
		if l < h || l > len(b) {
			return nil, fmt.Errorf("%w: AVP length %d", ErrMalformed, l)
		}
		a.data = b[h:l]
		out = append(out, a)
		pad := (l + 3) &^ 3
		if pad > len(b) {
			pad = len(b)
		}
		b = b[pad:]
	}
	return out, nil
}

func findAVP(as []avp, vendor, code uint32) ([]byte, bool) {
	for _, a := range as {
		if a.vendor == vendor && a.code == code {
			return a.data, true
		}
	}
	return nil, false
}

// appendAVP encodes one mandatory AVP, padded to four bytes.
func appendAVP(b []byte, vendor, code uint32, data []byte) []byte {
	h := 8
	flags := byte(avpFlagMandatory)
	if vendor != 0 {
		h, flags = 12, flags|avpFlagVendor
	}
	l := h + len(data)
	b = binary.BigEndian.AppendUint32(b, code)
	b = append(b, flags, byte(l>>16), byte(l>>8), byte(l))
	if vendor != 0 {
		b = binary.BigEndian.AppendUint32(b, vendor)
	}
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// ttlsChallenge is the 17 bytes of RFC 5281 11.1: MS-CHAP challenge then identifier.
func ttlsChallenge(c *tls.Conn, p *pipe, kl *keyLog) ([]byte, error) {
	return tunnelKeys(c, p, kl, "ttls challenge", 17)
}

// ttls authenticates the tunnel's inner method (server program).
func (s *TLSServer) ttls(c *tls.Conn) error {
	return s.ttlsInner(c, func(n int) ([]byte, error) { return tunnelKeys(c, s.p, &s.kl, "ttls challenge", n) })
}

// ttlsInner reads the peer's inner method from the tunnel c; challenge gives the first n
// bytes of the tunnel's challenge material (RFC 5281 11.1).
func (s *TLSServer) ttlsInner(c io.ReadWriter, challenge func(n int) ([]byte, error)) error {
	buf := make([]byte, 16384)
	n, err := c.Read(buf)
	if err != nil {
		return fmt.Errorf("reading the tunnel: %w", err)
	}
	as, err := parseAVPs(buf[:n])
	if err != nil {
		return err
	}
	if m, ok := findAVP(as, 0, avpEAPMessage); ok {
		return s.ttlsEAP(c, m)
	}
	name, ok := findAVP(as, 0, avpUserName)
	if !ok {
		return fmt.Errorf("%w: no User-Name in the tunnel", ErrMalformed)
	}
	s.User = string(name)
	if pw, ok := findAVP(as, 0, avpUserPassword); ok {
		s.Method = "ttls-pap"
		nt, err := s.Inner(s.Method, s.User)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare(NTHash(string(bytes.TrimRight(pw, "\x00"))), nt) != 1 {
			return fmt.Errorf("%w: wrong password for %q", ErrAuth, s.User)
		}
		return nil
	}
	if cp, ok := findAVP(as, 0, avpCHAPPassword); ok {
		return s.ttlsCHAP(challenge, as, cp)
	}
	if resp, ok := findAVP(as, vendorMicrosoft, avpMSCHAPResp); ok {
		return s.ttlsMSCHAP(challenge, as, resp)
	}
	resp, ok := findAVP(as, vendorMicrosoft, avpMSCHAP2Resp)
	if !ok {
		return fmt.Errorf("inner method not supported (EAP-TTLS carries PAP, CHAP, MS-CHAP, MS-CHAPv2 or EAP here)")
	}
	s.Method = "ttls-mschap2"
	ch, ok := findAVP(as, vendorMicrosoft, avpMSCHAPChal)
	want, err := challenge(17)
	if err != nil {
		return err
	}
	if !ok || len(resp) != 50 || !bytes.Equal(ch, want[:16]) || resp[0] != want[16] {
		return fmt.Errorf("%w: MS-CHAP-Challenge or identifier not the tunnel's (RFC 5281 11.2.4)", ErrAuth)
	}
	nt, err := s.Inner(s.Method, s.User)
	if err != nil {
		return err
	}
	peer, ntResp := resp[2:18], resp[26:50]
	if subtle.ConstantTimeCompare(NTResponse(ch, peer, s.User, nt), ntResp) != 1 {
		return fmt.Errorf("%w: wrong password for %q", ErrAuth, s.User)
	}
	ok2 := append([]byte{resp[0]}, AuthenticatorResponse(ch, peer, ntResp, s.User, nt)...)
	if _, err := c.Write(appendAVP(nil, vendorMicrosoft, avpMSCHAP2Succ, ok2)); err != nil {
		return err
	}
	// The peer acknowledges with an empty message; EAP-Success follows it.
	return nil
}

// ttlsCHAP checks CHAP in the tunnel (RFC 5281 11.2.2): CHAP-Challenge must be the first
// 16 bytes of the tunnel's challenge material and CHAP-Password's identifier its 17th;
// the response is MD5 of identifier, password and challenge (RFC 1994 4.1), so it needs
// the user's password itself. No success AVP exists: the outer EAP-Success says it.
func (s *TLSServer) ttlsCHAP(challenge func(int) ([]byte, error), as []avp, cp []byte) error {
	s.Method = "ttls-chap"
	ch, ok := findAVP(as, 0, avpCHAPChallenge)
	want, err := challenge(17)
	if err != nil {
		return err
	}
	if !ok || len(cp) != 17 || subtle.ConstantTimeCompare(ch, want[:16]) != 1 || cp[0] != want[16] {
		return fmt.Errorf("%w: CHAP-Challenge or identifier not the tunnel's (RFC 5281 11.2.2)", ErrAuth)
	}
	if s.InnerPassword == nil {
		return fmt.Errorf("%w: CHAP needs the password, which is not kept here", ErrAuth)
	}
	pw, err := s.InnerPassword(s.Method, s.User)
	if err != nil {
		return err
	}
	h := md5.New()
	h.Write(cp[:1])
	h.Write([]byte(pw))
	h.Write(ch)
	if subtle.ConstantTimeCompare(h.Sum(nil), cp[1:]) != 1 {
		return fmt.Errorf("%w: wrong password for %q", ErrAuth, s.User)
	}
	return nil
}

// ttlsMSCHAP checks MS-CHAP (v1) in the tunnel (RFC 5281 11.2.3, RFC 2433): the 8-byte
// MS-CHAP-Challenge must be the tunnel's challenge material and the response's
// identifier its 9th byte; the 24-byte NT-Response is checked against the NT hash (the
// LAN Manager response, flags 0, is refused: no LM hash is kept). No success AVP exists.
func (s *TLSServer) ttlsMSCHAP(challenge func(int) ([]byte, error), as []avp, resp []byte) error {
	s.Method = "ttls-mschap1"
	ch, ok := findAVP(as, vendorMicrosoft, avpMSCHAPChal)
	want, err := challenge(9)
	if err != nil {
		return err
	}
	if !ok || len(resp) != 50 || subtle.ConstantTimeCompare(ch, want[:8]) != 1 || resp[0] != want[8] {
		return fmt.Errorf("%w: MS-CHAP-Challenge or identifier not the tunnel's (RFC 5281 11.2.3)", ErrAuth)
	}
	if resp[1] != 1 {
		return fmt.Errorf("%w: MS-CHAP LAN Manager response (only the NT response is checked)", ErrAuth)
	}
	nt, err := s.Inner(s.Method, s.User)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(rfc2759.ChallengeResponse(ch, nt), resp[26:50]) != 1 {
		return fmt.Errorf("%w: wrong password for %q", ErrAuth, s.User)
	}
	return nil
}

// ttlsEAP runs EAP-MSCHAPv2 in EAP-Message AVPs (RFC 5281 11.2.1), as strongSwan's
// EAP-TTLS peer authenticates; it counts as ttls-mschap2. first is the peer's inner
// EAP-Response/Identity.
func (s *TLSServer) ttlsEAP(c io.ReadWriter, first []byte) error {
	p, err := Parse(first)
	if err != nil {
		return err
	}
	if p.Code != CodeResponse || p.Type != TypeIdentity || len(p.Data) == 0 {
		return fmt.Errorf("%w: inner EAP does not start with an identity", ErrMalformed)
	}
	s.User, s.Method = string(p.Data), "ttls-mschap2"
	var innerErr error
	ms := &MSCHAPv2Server{Name: s.Name, Lookup: func(u string) ([]byte, bool) {
		nt, err := s.Inner(s.Method, u)
		if err != nil {
			innerErr = err
			return nil, false
		}
		return nt, true
	}}
	req := ms.Start(p.ID + 1)
	buf := make([]byte, 16384)
	for i := 0; ; i++ {
		if i == maxInnerRounds {
			return fmt.Errorf("%w: inner EAP does not end", ErrMalformed)
		}
		if _, err := c.Write(appendAVP(nil, 0, avpEAPMessage, req.Marshal())); err != nil {
			return err
		}
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("reading the tunnel: %w", err)
		}
		as, err := parseAVPs(buf[:n])
		if err != nil {
			return err
		}
		m, ok := findAVP(as, 0, avpEAPMessage)
		if !ok {
			return fmt.Errorf("%w: no EAP-Message in the tunnel", ErrMalformed)
		}
		resp, err := Parse(m)
		if err != nil {
			return err
		}
		if resp.Code == CodeResponse && resp.Type == TypeNak {
			return errors.New("peer refuses EAP-MSCHAPv2 inside EAP-TTLS (Nak)")
		}
		next, done := ms.Handle(resp)
		if done {
			break
		}
		req = next
	}
	switch {
	case innerErr != nil:
		return innerErr
	case ms.Err != nil:
		return ms.Err
	}
	if ms.User != "" {
		s.User = ms.User
	}
	return nil
}

// ttlsPeer runs the inner method as peer (client program).
func (c *TLSPeer) ttls(conn *tls.Conn) error {
	user := []byte(c.User)
	out := appendAVP(nil, 0, avpUserName, user)
	if strings.EqualFold(c.Inner, "eap") {
		return c.ttlsEAP(conn)
	}
	if strings.EqualFold(c.Inner, "pap") {
		pw := []byte(c.Password)
		pw = append(pw, make([]byte, (16-len(pw)%16)%16)...)
		if len(pw) == 0 {
			pw = make([]byte, 16)
		}
		_, err := conn.Write(appendAVP(out, 0, avpUserPassword, pw))
		return err
	}
	ch, err := ttlsChallenge(conn, c.p, &c.kl)
	if err != nil {
		return err
	}
	peer := make([]byte, 16)
	randRead(peer)
	h := NTHash(c.Password)
	ntResp := NTResponse(ch[:16], peer, c.User, h)
	resp := []byte{ch[16], 0}
	resp = append(resp, peer...)
	resp = append(resp, make([]byte, 8)...)
	resp = append(resp, ntResp...)
	out = appendAVP(out, vendorMicrosoft, avpMSCHAPChal, ch[:16])
	out = appendAVP(out, vendorMicrosoft, avpMSCHAP2Resp, resp)
	if _, err := conn.Write(out); err != nil {
		return err
	}
	buf := make([]byte, 16384)
	n, err := conn.Read(buf)
	if err != nil {
		return fmt.Errorf("waiting for MS-CHAP2-Success: %w", err)
	}
	as, err := parseAVPs(buf[:n])
	if err != nil {
		return err
	}
	if e, ok := findAVP(as, vendorMicrosoft, avpMSCHAPError); ok {
		return fmt.Errorf("%w: %s", ErrAuth, bytes.TrimLeft(e[min(1, len(e)):], "\x00"))
	}
	succ, ok := findAVP(as, vendorMicrosoft, avpMSCHAP2Succ)
	want := AuthenticatorResponse(ch[:16], peer, ntResp, c.User, h)
	if !ok || len(succ) < 43 || subtle.ConstantTimeCompare(succ[1:43], []byte(want)) != 1 {
		return fmt.Errorf("%w: the server's MS-CHAP2-Success does not verify (it does not know the password)", ErrAuth)
	}
	return nil
}

// ttlsEAP is the peer's EAP-MSCHAPv2 in EAP-Message AVPs.
func (c *TLSPeer) ttlsEAP(conn *tls.Conn) error {
	inner := &MSCHAPv2Peer{User: c.User, Password: c.Password}
	out := (&Packet{Code: CodeResponse, ID: 0, Type: TypeIdentity, Data: []byte(c.User)}).Marshal()
	buf := make([]byte, 16384)
	for i := 0; i < maxInnerRounds; i++ {
		if _, err := conn.Write(appendAVP(nil, 0, avpEAPMessage, out)); err != nil {
			return err
		}
		if inner.MSK != nil {
			return nil // the acknowledged MS-CHAPv2 success; the outer EAP-Success follows
		}
		n, err := conn.Read(buf)
		if err != nil {
			return fmt.Errorf("reading the tunnel: %w", err)
		}
		as, err := parseAVPs(buf[:n])
		if err != nil {
			return err
		}
		m, ok := findAVP(as, 0, avpEAPMessage)
		if !ok {
			return fmt.Errorf("%w: no EAP-Message in the tunnel", ErrMalformed)
		}
		p, err := Parse(m)
		if err != nil {
			return err
		}
		resp, err := inner.Handle(p)
		if err != nil {
			if resp != nil {
				conn.Write(appendAVP(nil, 0, avpEAPMessage, resp.Marshal()))
			}
			return err
		}
		if resp == nil {
			return fmt.Errorf("%w: inner %v", ErrMalformed, p)
		}
		out = resp.Marshal()
	}
	return fmt.Errorf("%w: inner EAP does not end", ErrMalformed)
}
