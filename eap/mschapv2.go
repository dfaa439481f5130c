package eap

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"layeh.com/radius/rfc2759"
	"layeh.com/radius/rfc3079"
)

// ErrAuth is the authentication failure (wrong password, unknown user).
var ErrAuth = errors.New("authentication failed")

// NTHash is the NT password hash (MD4 of the UTF-16LE password, RFC 2759 8.3): the only
// form of a password MS-CHAPv2 needs.
func NTHash(password string) []byte {
	u, _ := rfc2759.ToUTF16([]byte(password))
	return rfc2759.NTPasswordHash(u)
}

// NTResponse is the 24-byte MS-CHAPv2 response (RFC 2759 8.1) from an NT hash.
func NTResponse(authChallenge, peerChallenge []byte, user string, ntHash []byte) []byte {
	return rfc2759.ChallengeResponse(rfc2759.ChallengeHash(peerChallenge, authChallenge, []byte(stripDomain(user))), ntHash)
}

// stripDomain drops a DOMAIN\ prefix (RFC 2759 8.2 hashes the user name without it).
func stripDomain(user string) string {
	if i := strings.LastIndexByte(user, '\\'); i >= 0 {
		return user[i+1:]
	}
	return user
}

var (
	magic1 = []byte("Magic server to client signing constant")
	magic2 = []byte("Pad to make it do more than one iteration")
)

// AuthenticatorResponse is the "S=" string of RFC 2759 8.7 from an NT hash.
func AuthenticatorResponse(authChallenge, peerChallenge, ntResponse []byte, user string, ntHash []byte) string {
	hh := rfc2759.NTPasswordHash(ntHash)
	h := sha1.New()
	h.Write(hh)
	h.Write(ntResponse)
	h.Write(magic1)
	d := h.Sum(nil)
	h = sha1.New()
	h.Write(d)
	h.Write(rfc2759.ChallengeHash(peerChallenge, authChallenge, []byte(stripDomain(user))))
	h.Write(magic2)
	return "S=" + strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// MPPEKeys are the server's MPPE send and receive keys (RFC 3079 3.4, 128-bit): what a
// RADIUS server puts in MS-MPPE-Send-Key and MS-MPPE-Recv-Key.
func MPPEKeys(ntHash, ntResponse []byte) (send, recv []byte) {
	mk := rfc3079.GetMasterKey(rfc2759.NTPasswordHash(ntHash), ntResponse)
	send, _ = rfc3079.GetAsymmetricStartKey(mk, rfc3079.KeyLength128Bit, true)
	recv, _ = rfc3079.GetAsymmetricStartKey(mk, rfc3079.KeyLength128Bit, false)
	return send, recv
}

// MSK is EAP-MSCHAPv2's master session key: the server's receive key then its send key
// (the peer computes the same bytes with the roles swapped).
func MSK(ntHash, ntResponse []byte) []byte {
	send, recv := MPPEKeys(ntHash, ntResponse)
	return append(recv, send...)
}

// MS-CHAPv2 opcodes inside EAP type 26.
const (
	opChallenge = 1
	opResponse  = 2
	opSuccess   = 3
	opFailure   = 4
)

// MSCHAPv2Failure is the opcode of an MS-CHAPv2 failure request (the first data byte).
const MSCHAPv2Failure = opFailure

// msHeader is OpCode, MS-CHAPv2-ID and MS-Length.
func msHeader(op, id byte, rest int) []byte {
	b := []byte{op, id, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(4+rest))
	return b
}

// Lookup finds a user's NT hash; ok false for an unknown or disabled user.
type Lookup func(user string) (ntHash []byte, ok bool)

// MSCHAPv2Server is the authenticator side of one EAP-MSCHAPv2 conversation.
type MSCHAPv2Server struct {
	// Name is the authenticator name sent in the challenge.
	Name   string
	Lookup Lookup

	id        uint8
	msID      uint8
	challenge [16]byte
	state     int // 0 new, 1 challenge sent, 2 success sent, 3 failure sent, 4 done
	// User is the name from the peer's response; MSK is set after success.
	User string
	MSK  []byte
	// SendKey and RecvKey are the server's MPPE keys (MS-MPPE-Send/Recv-Key).
	SendKey, RecvKey []byte
	// Err says why authentication failed.
	Err error
}

// Start returns the EAP-Request carrying the MS-CHAPv2 challenge; id is the EAP
// identifier to use (one more than the peer's identity response's).
func (s *MSCHAPv2Server) Start(id uint8) *Packet {
	rand.Read(s.challenge[:])
	var b [1]byte
	rand.Read(b[:])
	s.id, s.msID, s.state = id, b[0], 1
	name := []byte(s.Name)
	d := msHeader(opChallenge, s.msID, 1+16+len(name))
	d = append(d, 16)
	d = append(d, s.challenge[:]...)
	d = append(d, name...)
	return &Packet{Code: CodeRequest, ID: id, Type: TypeMSCHAPv2, Data: d}
}

// Handle takes the peer's EAP-Response and returns the next packet to send; done is true
// when that packet is EAP-Success or EAP-Failure (then s.Err or s.MSK say which).
func (s *MSCHAPv2Server) Handle(p *Packet) (next *Packet, done bool) {
	fail := func(err error) (*Packet, bool) {
		if s.Err == nil {
			s.Err = err
		}
		s.state = 4
		return &Packet{Code: CodeFailure, ID: p.ID}, true
	}
	if p.Code != CodeResponse || p.ID != s.id {
		return fail(fmt.Errorf("%w: unexpected %v", ErrMalformed, p))
	}
	if p.Type == TypeNak {
		return fail(fmt.Errorf("peer refuses EAP-MSCHAPv2 (Nak, wants %v)", p.Data))
	}
	if p.Type != TypeMSCHAPv2 || len(p.Data) < 1 {
		return fail(fmt.Errorf("%w: not an MS-CHAPv2 response", ErrMalformed))
	}
	switch {
	case s.state == 1 && p.Data[0] == opResponse:
		// OpCode, ID, MS-Length(2), Value-Size(1)=49, Response(49), Name.
		if len(p.Data) < 5+49 || p.Data[4] != 49 {
			return fail(fmt.Errorf("%w: short MS-CHAPv2 response", ErrMalformed))
		}
		resp := p.Data[5 : 5+49]
		peerChallenge, ntResp := resp[:16], resp[24:48]
		s.User = string(p.Data[5+49:])
		h, ok := s.Lookup(s.User)
		if !ok {
			s.Err = fmt.Errorf("%w: no such user %q", ErrAuth, s.User)
		} else if want := NTResponse(s.challenge[:], peerChallenge, s.User, h); subtle.ConstantTimeCompare(want, ntResp) != 1 {
			s.Err = fmt.Errorf("%w: wrong password for %q", ErrAuth, s.User)
		}
		s.id++
		if s.Err != nil {
			s.state = 3
			msg := []byte(fmt.Sprintf("E=691 R=0 C=%X V=3 M=Authentication failed", s.challenge[:]))
			d := append(msHeader(opFailure, s.msID, len(msg)), msg...)
			return &Packet{Code: CodeRequest, ID: s.id, Type: TypeMSCHAPv2, Data: d}, false
		}
		msg := []byte(AuthenticatorResponse(s.challenge[:], peerChallenge, ntResp, s.User, h) + " M=OK")
		s.SendKey, s.RecvKey = MPPEKeys(h, ntResp)
		s.MSK = append(append([]byte(nil), s.RecvKey...), s.SendKey...)
		s.state = 2
		d := append(msHeader(opSuccess, s.msID, len(msg)), msg...)
		return &Packet{Code: CodeRequest, ID: s.id, Type: TypeMSCHAPv2, Data: d}, false
	case s.state == 2 && p.Data[0] == opSuccess:
		s.state = 4
		return &Packet{Code: CodeSuccess, ID: p.ID}, true
	case s.state == 3 && p.Data[0] == opFailure:
		return fail(s.Err)
	}
	return fail(fmt.Errorf("%w: MS-CHAPv2 opcode %d in state %d", ErrMalformed, p.Data[0], s.state))
}

// Failed reports whether the conversation ended in failure.
func (s *MSCHAPv2Server) Failed() bool { return s.Err != nil }

// MSCHAPv2Peer is the peer side: it answers an identity request and an MS-CHAPv2
// challenge with User and Password, and checks the authenticator's response.
type MSCHAPv2Peer struct {
	User, Password string
	// MSK is set once the authenticator proved it knows the password.
	MSK []byte

	ntResp        []byte
	peerChallenge []byte
	authChallenge []byte
	verified      bool
}

// Handle answers one EAP-Request. Success and Failure return nil and the outcome; an
// MS-CHAPv2 failure returns both the acknowledgement to send and the error.
func (c *MSCHAPv2Peer) Handle(p *Packet) (*Packet, error) {
	switch p.Code {
	case CodeSuccess:
		if !c.verified {
			return nil, errors.New("EAP-Success before the authenticator proved the password")
		}
		return nil, nil
	case CodeFailure:
		return nil, fmt.Errorf("%w: EAP-Failure from the authenticator", ErrAuth)
	case CodeRequest:
	default:
		return nil, fmt.Errorf("%w: unexpected %v", ErrMalformed, p)
	}
	resp := &Packet{Code: CodeResponse, ID: p.ID}
	switch p.Type {
	case TypeIdentity:
		resp.Type, resp.Data = TypeIdentity, []byte(c.User)
		return resp, nil
	case TypeNotification:
		resp.Type = TypeNotification
		return resp, nil
	case TypeMSCHAPv2:
	default:
		// Only MS-CHAPv2: say so with a Nak (RFC 3748 5.3.1).
		resp.Type, resp.Data = TypeNak, []byte{byte(TypeMSCHAPv2)}
		return resp, nil
	}
	d := p.Data
	if len(d) < 4 {
		return nil, fmt.Errorf("%w: short MS-CHAPv2 request", ErrMalformed)
	}
	resp.Type = TypeMSCHAPv2
	switch d[0] {
	case opChallenge:
		if len(d) < 5+16 || d[4] != 16 {
			return nil, fmt.Errorf("%w: bad MS-CHAPv2 challenge", ErrMalformed)
		}
		c.authChallenge = append([]byte(nil), d[5:21]...)
		c.peerChallenge = make([]byte, 16)
		rand.Read(c.peerChallenge)
		h := NTHash(c.Password)
		c.ntResp = NTResponse(c.authChallenge, c.peerChallenge, c.User, h)
		v := make([]byte, 0, 49)
		v = append(v, c.peerChallenge...)
		v = append(v, make([]byte, 8)...)
		v = append(v, c.ntResp...)
		v = append(v, 0)
		out := msHeader(opResponse, d[1], 1+49+len(c.User))
		out = append(out, 49)
		out = append(out, v...)
		resp.Data = append(out, c.User...)
		return resp, nil
	case opSuccess:
		if c.ntResp == nil {
			return nil, fmt.Errorf("%w: MS-CHAPv2 success before a challenge", ErrMalformed)
		}
		h := NTHash(c.Password)
		want := AuthenticatorResponse(c.authChallenge, c.peerChallenge, c.ntResp, c.User, h)
		msg := string(d[4:])
		if len(msg) < 42 || subtle.ConstantTimeCompare([]byte(msg[:42]), []byte(want)) != 1 {
			return nil, fmt.Errorf("%w: the authenticator's response does not verify (it does not know the password)", ErrAuth)
		}
		c.verified = true
		c.MSK = MSK(h, c.ntResp)
		resp.Data = []byte{opSuccess}
		return resp, nil
	case opFailure:
		// Acknowledged with a Failure response; the caller sends it and gives up.
		resp.Data = []byte{opFailure}
		return resp, fmt.Errorf("%w: %s", ErrAuth, strings.TrimSpace(string(d[4:])))
	}
	return nil, fmt.Errorf("%w: MS-CHAPv2 opcode %d", ErrMalformed, d[0])
}
