package eap

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
)

// PEAPv0 (draft-kamath-pppext-peapv0) as Windows, wpa_supplicant, FreeRADIUS and
// strongSwan speak it: the tunnel carries EAP-MSCHAPv2 with the EAP header left out,
// and the outcome is the Result TLV of an EAP Extensions packet (type 33, with its
// header), after which the outer EAP-Success or -Failure follows. The MSK is the
// EAP-TLS one (no crypto binding).

// TypeExtensions is PEAP's EAP-TLV / Extensions type.
const TypeExtensions Type = 33

const (
	tlvResult      = 3
	resultSuccess  = 1
	resultFailure  = 2
	tlvMandatory   = 0x8000
	tlvTypeMask    = 0x3fff
	maxInnerRounds = 16
)

// resultTLV is an Extensions packet with one Result TLV.
func resultTLV(code Code, id uint8, result uint16) []byte {
	d := make([]byte, 6)
	binary.BigEndian.PutUint16(d, tlvMandatory|tlvResult)
	binary.BigEndian.PutUint16(d[2:], 2)
	binary.BigEndian.PutUint16(d[4:], result)
	return (&Packet{Code: code, ID: id, Type: TypeExtensions, Data: d}).Marshal()
}

// parseResult finds the Result TLV's value (0 when there is none).
func parseResult(d []byte) uint16 {
	for len(d) >= 4 {
		t := binary.BigEndian.Uint16(d) & tlvTypeMask
		l := int(binary.BigEndian.Uint16(d[2:]))
		if 4+l > len(d) {
			return 0
		}
		if t == tlvResult && l == 2 {
			return binary.BigEndian.Uint16(d[4:])
		}
		d = d[4+l:]
	}
	return 0
}

// readInner reads one inner EAP packet: with its header (Extensions, and what some
// servers send) or without (PEAPv0's usual form: type and data; code and id implied).
func readInner(c *tls.Conn, code Code, id uint8) (*Packet, error) {
	buf := make([]byte, 16384)
	n, err := c.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("reading the tunnel: %w", err)
	}
	b := buf[:n]
	if len(b) >= 4 && b[0] >= 1 && b[0] <= 4 && int(binary.BigEndian.Uint16(b[2:4])) == len(b) {
		return Parse(b)
	}
	if len(b) < 1 {
		return nil, fmt.Errorf("%w: empty inner packet", ErrMalformed)
	}
	return &Packet{Code: code, ID: id, Type: Type(b[0]), Data: append([]byte(nil), b[1:]...)}, nil
}

// stripped is an inner packet without its header.
func stripped(p *Packet) []byte { return append([]byte{byte(p.Type)}, p.Data...) }

// peap is the server's inner method: identity, EAP-MSCHAPv2, Result TLV.
func (s *TLSServer) peap(c *tls.Conn) error {
	s.Method = "peap-mschap2"
	var innerErr error
	ms := &MSCHAPv2Server{Name: s.Name, Lookup: func(u string) ([]byte, bool) {
		nt, err := s.Inner(s.Method, u)
		if err != nil {
			innerErr = err
			return nil, false
		}
		return nt, true
	}}
	// The identity request goes with its header (as FreeRADIUS sends it; wpa_supplicant
	// takes a one-byte request for a short frame).
	if _, err := c.Write((&Packet{Code: CodeRequest, ID: 0, Type: TypeIdentity}).Marshal()); err != nil {
		return err
	}
	p, err := readInner(c, CodeResponse, 0)
	if err != nil {
		return err
	}
	if p.Type != TypeIdentity || len(p.Data) == 0 {
		return fmt.Errorf("%w: no identity inside PEAP", ErrMalformed)
	}
	s.User = string(p.Data)
	req := ms.Start(1)
	for i := 0; ; i++ {
		if i == maxInnerRounds {
			return fmt.Errorf("%w: inner EAP does not end", ErrMalformed)
		}
		if _, err := c.Write(stripped(req)); err != nil {
			return err
		}
		p, err := readInner(c, CodeResponse, req.ID)
		if err != nil {
			return err
		}
		if p.Type == TypeNak {
			return errors.New("peer refuses EAP-MSCHAPv2 inside PEAP (Nak)")
		}
		next, done := ms.Handle(p)
		if done {
			break
		}
		req = next
	}
	if ms.User != "" {
		s.User = ms.User
	}
	result := uint16(resultSuccess)
	if ms.Err != nil {
		result = resultFailure
	}
	if _, err := c.Write(resultTLV(CodeRequest, req.ID+1, result)); err != nil {
		return err
	}
	p, err = readInner(c, CodeResponse, req.ID+1)
	if err != nil {
		return err
	}
	switch {
	case innerErr != nil:
		return innerErr
	case ms.Err != nil:
		return ms.Err
	case p.Type != TypeExtensions || parseResult(p.Data) != resultSuccess:
		return fmt.Errorf("%w: the peer does not confirm the PEAP result", ErrAuth)
	}
	return nil
}

// peap is the peer's inner method.
func (c *TLSPeer) peap(conn *tls.Conn) error {
	inner := &MSCHAPv2Peer{User: c.User, Password: c.Password}
	var failed error
	for i := 0; i < maxInnerRounds; i++ {
		p, err := readInner(conn, CodeRequest, 0)
		if err != nil {
			return err
		}
		switch {
		case p.Code == CodeRequest && p.Type == TypeExtensions:
			r := parseResult(p.Data)
			answer := uint16(resultFailure)
			if r == resultSuccess && failed == nil && inner.MSK != nil {
				answer = resultSuccess
			}
			if _, err := conn.Write(resultTLV(CodeResponse, p.ID, answer)); err != nil {
				return err
			}
			switch {
			case failed != nil:
				return failed
			case answer != resultSuccess:
				return fmt.Errorf("%w: PEAP result %d", ErrAuth, r)
			}
			return nil
		case p.Code == CodeSuccess:
			if failed == nil && inner.MSK != nil {
				return nil
			}
			return fmt.Errorf("%w: inner EAP-Success before MS-CHAPv2 completed", ErrAuth)
		case p.Code == CodeFailure:
			if failed != nil {
				return failed
			}
			return fmt.Errorf("%w: inner EAP-Failure", ErrAuth)
		}
		resp, err := inner.Handle(p)
		if resp != nil {
			if _, werr := conn.Write(stripped(resp)); werr != nil {
				return werr
			}
		}
		if err != nil {
			if resp == nil {
				return err
			}
			failed = err // the Result TLV follows the acknowledged failure
		}
	}
	return fmt.Errorf("%w: inner EAP does not end", ErrMalformed)
}
