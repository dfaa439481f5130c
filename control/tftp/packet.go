package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Opcodes of RFC 1350 and RFC 2347.
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// Error codes of RFC 1350 and RFC 2347.
const (
	errUndefined   = 0
	errNotFound    = 1
	errAccess      = 2
	errDiskFull    = 3
	errIllegalOp   = 4
	errUnknownTID  = 5
	errFileExists  = 6
	errNoSuchUser  = 7
	errOptionsDeny = 8
)

// ErrMalformed is what Parse returns for bytes that are not a TFTP packet.
var ErrMalformed = errors.New("malformed TFTP packet")

// maxOptions bounds how many options a request may carry, so a request full of tiny
// options cannot make the server build a large map.
const maxOptions = 16

// Packet is one decoded TFTP packet. Which fields are set depends on Op.
type Packet struct {
	Op       uint16
	Filename string            // RRQ, WRQ
	Mode     string            // RRQ, WRQ, lower case
	Options  map[string]string // RRQ, WRQ, OACK; names lower case
	// OptionOrder keeps the order options arrived in, so an OACK answers in kind.
	OptionOrder []string
	Block       uint16 // DATA, ACK
	Data        []byte // DATA; aliases the parsed buffer
	Code        uint16 // ERROR
	Msg         string // ERROR
}

// Parse decodes one datagram.
func Parse(b []byte) (*Packet, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	p := &Packet{Op: binary.BigEndian.Uint16(b)}
	rest := b[2:]
	switch p.Op {
	case opRRQ, opWRQ:
		fields, err := cstrings(rest)
		if err != nil {
			return nil, err
		}
		if len(fields) < 2 || len(fields)%2 != 0 {
			return nil, fmt.Errorf("%w: request needs a file name, a mode and option pairs", ErrMalformed)
		}
		if fields[0] == "" {
			return nil, fmt.Errorf("%w: empty file name", ErrMalformed)
		}
		p.Filename, p.Mode = fields[0], strings.ToLower(fields[1])
		if err := p.setOptions(fields[2:]); err != nil {
			return nil, err
		}
	case opOACK:
		fields, err := cstrings(rest)
		if err != nil {
			return nil, err
		}
		if len(fields)%2 != 0 {
			return nil, fmt.Errorf("%w: option without a value", ErrMalformed)
		}
		if err := p.setOptions(fields); err != nil {
			return nil, err
		}
	case opDATA, opACK:
		if len(rest) < 2 || (p.Op == opACK && len(rest) != 2) {
			return nil, fmt.Errorf("%w: short block number", ErrMalformed)
		}
		p.Block = binary.BigEndian.Uint16(rest)
		if p.Op == opDATA {
			p.Data = rest[2:]
		}
	case opERROR:
		if len(rest) < 3 {
			return nil, fmt.Errorf("%w: short error", ErrMalformed)
		}
		p.Code = binary.BigEndian.Uint16(rest)
		// Some clients omit the terminating NUL; take the message up to it if present.
		msg := rest[2:]
		if i := bytes.IndexByte(msg, 0); i >= 0 {
			msg = msg[:i]
		}
		p.Msg = string(msg)
	default:
		return nil, fmt.Errorf("%w: opcode %d", ErrMalformed, p.Op)
	}
	return p, nil
}

func (p *Packet) setOptions(kv []string) error {
	if len(kv)/2 > maxOptions {
		return fmt.Errorf("%w: more than %d options", ErrMalformed, maxOptions)
	}
	if len(kv) == 0 {
		return nil
	}
	p.Options = make(map[string]string, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		name := strings.ToLower(kv[i])
		if name == "" {
			return fmt.Errorf("%w: empty option name", ErrMalformed)
		}
		if _, dup := p.Options[name]; dup {
			// RFC 2347 leaves duplicates undefined; refusing them avoids guessing.
			return fmt.Errorf("%w: option %q twice", ErrMalformed, name)
		}
		p.Options[name] = kv[i+1]
		p.OptionOrder = append(p.OptionOrder, name)
	}
	return nil
}

// cstrings splits NUL-terminated strings; the last must be terminated too.
func cstrings(b []byte) ([]string, error) {
	if len(b) == 0 || b[len(b)-1] != 0 {
		return nil, fmt.Errorf("%w: string not NUL-terminated", ErrMalformed)
	}
	parts := bytes.Split(b[:len(b)-1], []byte{0})
	out := make([]string, len(parts))
	for i, s := range parts {
		out[i] = string(s)
	}
	return out, nil
}

// Encoders append to buf (reused by the sender) and return the packet.

func appendData(buf []byte, block uint16, data []byte) []byte {
	buf = binary.BigEndian.AppendUint16(buf[:0], opDATA)
	buf = binary.BigEndian.AppendUint16(buf, block)
	return append(buf, data...)
}

func appendACK(buf []byte, block uint16) []byte {
	buf = binary.BigEndian.AppendUint16(buf[:0], opACK)
	return binary.BigEndian.AppendUint16(buf, block)
}

func appendError(buf []byte, code uint16, msg string) []byte {
	buf = binary.BigEndian.AppendUint16(buf[:0], opERROR)
	buf = binary.BigEndian.AppendUint16(buf, code)
	buf = append(buf, msg...)
	return append(buf, 0)
}

// appendOACK writes the accepted options in the order the client sent them.
func appendOACK(buf []byte, order []string, opts map[string]string) []byte {
	buf = binary.BigEndian.AppendUint16(buf[:0], opOACK)
	for _, k := range order {
		v, ok := opts[k]
		if !ok {
			continue
		}
		buf = append(buf, k...)
		buf = append(buf, 0)
		buf = append(buf, v...)
		buf = append(buf, 0)
	}
	return buf
}

// appendRequest builds an RRQ or WRQ (used by tests and the fuzz target's round trip).
func appendRequest(buf []byte, op uint16, name, mode string, order []string, opts map[string]string) []byte {
	buf = binary.BigEndian.AppendUint16(buf[:0], op)
	buf = append(buf, name...)
	buf = append(buf, 0)
	buf = append(buf, mode...)
	buf = append(buf, 0)
	for _, k := range order {
		buf = append(buf, k...)
		buf = append(buf, 0)
		buf = append(buf, opts[k]...)
		buf = append(buf, 0)
	}
	return buf
}
