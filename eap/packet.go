package eap

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Code is an EAP packet code.
type Code uint8

// EAP codes (RFC 3748 4).
const (
	CodeRequest  Code = 1
	CodeResponse Code = 2
	CodeSuccess  Code = 3
	CodeFailure  Code = 4
)

// Type is an EAP method type.
type Type uint8

// Method types used here.
const (
	TypeIdentity     Type = 1
	TypeNotification Type = 2
	TypeNak          Type = 3
	TypeMD5          Type = 4
	TypeTLS          Type = 13
	TypeTTLS         Type = 21
	TypePEAP         Type = 25
	TypeMSCHAPv2     Type = 26
)

// ErrMalformed is returned for packets that do not parse.
var ErrMalformed = errors.New("malformed EAP packet")

// Packet is one EAP packet. Success and Failure have no Type or Data.
type Packet struct {
	Code Code
	ID   uint8
	Type Type
	Data []byte
}

// Parse decodes one EAP packet; bytes past its Length are ignored.
func Parse(b []byte) (*Packet, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	l := int(binary.BigEndian.Uint16(b[2:4]))
	if l < 4 || l > len(b) {
		return nil, fmt.Errorf("%w: length %d of %d bytes", ErrMalformed, l, len(b))
	}
	p := &Packet{Code: Code(b[0]), ID: b[1]}
	switch p.Code {
	case CodeRequest, CodeResponse:
		if l < 5 {
			return nil, fmt.Errorf("%w: request or response without a type", ErrMalformed)
		}
		p.Type = Type(b[4])
		p.Data = append([]byte(nil), b[5:l]...)
	case CodeSuccess, CodeFailure:
		if l != 4 {
			return nil, fmt.Errorf("%w: success or failure with data", ErrMalformed)
		}
	default:
		return nil, fmt.Errorf("%w: code %d", ErrMalformed, p.Code)
	}
	return p, nil
}

// Marshal encodes the packet.
func (p *Packet) Marshal() []byte {
	if p.Code == CodeSuccess || p.Code == CodeFailure {
		return []byte{byte(p.Code), p.ID, 0, 4}
	}
	b := make([]byte, 5, 5+len(p.Data))
	b[0], b[1] = byte(p.Code), p.ID
	binary.BigEndian.PutUint16(b[2:4], uint16(5+len(p.Data)))
	b[4] = byte(p.Type)
	return append(b, p.Data...)
}

// String names the packet for logs.
func (p *Packet) String() string {
	switch p.Code {
	case CodeSuccess:
		return fmt.Sprintf("EAP-Success id %d", p.ID)
	case CodeFailure:
		return fmt.Sprintf("EAP-Failure id %d", p.ID)
	case CodeRequest:
		return fmt.Sprintf("EAP-Request/%d id %d", p.Type, p.ID)
	}
	return fmt.Sprintf("EAP-Response/%d id %d", p.Type, p.ID)
}
