package eap

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// The TLS-based methods (EAP-TLS, EAP-TTLS, PEAPv0) run Go's crypto/tls over the EAP
// exchange. The TLS side of a conversation is one goroutine running a plain sequential
// program (handshake, then the inner method) on a pipe: Read blocks until the peer's next
// EAP message arrives, Write collects this side's next message. The EAP side feeds each
// reassembled message in and sends what the program wrote once it waits for input again
// or has finished.

// Flags of the TLS-based methods' first data byte (RFC 5216 3.1; TTLS and PEAP put their
// version in the low three bits).
const (
	flagL       = 0x80 // length included
	flagM       = 0x40 // more fragments
	flagS       = 0x20 // start
	versionMask = 0x07
)

// FragmentSize is the largest TLS payload put in one EAP message: small enough for one
// RADIUS EAP-Message chain and one unfragmented IKE message.
const FragmentSize = 1000

// maxTLSMessage bounds a reassembled message (a certificate chain fits easily).
const maxTLSMessage = 64 << 10

// pipe is the net.Conn crypto/tls runs on.
type pipe struct {
	mu      sync.Mutex
	cond    *sync.Cond
	in, out []byte
	waiting bool // the program waits in Read with nothing left to read
	closed  bool
	done    bool // the program returned

	// server is the server-to-client direction's bytes (the ServerHello carries the
	// server random the key derivation needs); serverIsOut says which side that is.
	server      []byte
	serverIsOut bool
}

func newPipe(serverIsOut bool) *pipe {
	p := &pipe{serverIsOut: serverIsOut}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.in) == 0 {
		if p.closed {
			return 0, io.EOF
		}
		p.waiting = true
		p.cond.Broadcast()
		p.cond.Wait()
	}
	n := copy(b, p.in)
	p.in = p.in[n:]
	return n, nil
}

func (p *pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, net.ErrClosed
	}
	p.out = append(p.out, b...)
	if p.serverIsOut && len(p.server) < 4096 {
		p.server = append(p.server, b...)
	}
	return len(b), nil
}

// Close ends the program: its next Read returns EOF.
func (p *pipe) Close() error {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	return nil
}

func (p *pipe) LocalAddr() net.Addr                { return pipeAddr{} }
func (p *pipe) RemoteAddr() net.Addr               { return pipeAddr{} }
func (p *pipe) SetDeadline(t time.Time) error      { return nil }
func (p *pipe) SetReadDeadline(t time.Time) error  { return nil }
func (p *pipe) SetWriteDeadline(t time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "eap" }
func (pipeAddr) String() string  { return "eap" }

// exchange hands the program the peer's message and returns what it wrote until it
// waits for the next one; finished is true once it returned.
func (p *pipe) exchange(msg []byte) (out []byte, finished bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.in = append(p.in, msg...)
	if !p.serverIsOut && len(p.server) < 4096 {
		p.server = append(p.server, msg...)
	}
	p.waiting = false
	p.cond.Broadcast()
	for !(p.waiting && len(p.in) == 0) && !p.done {
		p.cond.Wait()
	}
	out, p.out = p.out, nil
	return out, p.done
}

func (p *pipe) finish() {
	p.mu.Lock()
	p.done = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// serverRandom finds the ServerHello's random in the server's first records.
func (p *pipe) serverRandom() ([]byte, error) {
	p.mu.Lock()
	b := p.server
	p.mu.Unlock()
	var hs []byte
	for len(b) >= 5 {
		l := int(binary.BigEndian.Uint16(b[3:5]))
		if len(b) < 5+l {
			break
		}
		if b[0] == 22 { // handshake
			hs = append(hs, b[5:5+l]...)
		}
		b = b[5+l:]
	}
	for len(hs) >= 4 {
		l := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
		if len(hs) < 4+l {
			break
		}
		if hs[0] == 2 && l >= 2+32 { // ServerHello: version, random
			return append([]byte(nil), hs[6:6+32]...), nil
		}
		hs = hs[4+l:]
	}
	return nil, errors.New("no ServerHello seen")
}

// keyLog keeps the TLS 1.2 master secret crypto/tls reports (NSS key log format), so
// that the EAP keys can be derived whether or not the peer negotiated the extended
// master secret (crypto/tls's exporter refuses without it, and strongSwan's TLS stack
// does not offer it).
type keyLog struct {
	mu                   sync.Mutex
	clientRandom, master []byte
}

func (k *keyLog) Write(b []byte) (int, error) {
	f := strings.Fields(string(b))
	if len(f) == 3 && f[0] == "CLIENT_RANDOM" {
		cr, err1 := hex.DecodeString(f[1])
		ms, err2 := hex.DecodeString(f[2])
		if err1 == nil && err2 == nil {
			k.mu.Lock()
			k.clientRandom, k.master = cr, ms
			k.mu.Unlock()
		}
	}
	return len(b), nil
}

// prf is the TLS 1.2 PRF (RFC 5246 5) with the cipher suite's hash.
func prf(h func() hash.Hash, secret []byte, label string, seed []byte, n int) []byte {
	ls := append([]byte(label), seed...)
	out := make([]byte, 0, n)
	mac := hmac.New(h, secret)
	mac.Write(ls)
	a := mac.Sum(nil)
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		mac.Write(ls)
		out = append(out, mac.Sum(nil)...)
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(nil)
	}
	return out[:n]
}

// tunnelKeys derives n bytes of keying material with label from the finished handshake
// (PRF(master_secret, label, client_random || server_random), as RFC 5216 2.3, RFC 5281 8
// and PEAPv0 define their keys; the same as the TLS exporter without context).
func tunnelKeys(c *tls.Conn, p *pipe, kl *keyLog, label string, n int) ([]byte, error) {
	cs := c.ConnectionState()
	if cs.Version != tls.VersionTLS12 {
		return nil, fmt.Errorf("TLS version %x: only TLS 1.2 is used for EAP", cs.Version)
	}
	kl.mu.Lock()
	cr, ms := kl.clientRandom, kl.master
	kl.mu.Unlock()
	sr, err := p.serverRandom()
	if err != nil || ms == nil {
		return nil, fmt.Errorf("no TLS master secret: %v", err)
	}
	h := sha256.New
	if strings.HasSuffix(tls.CipherSuiteName(cs.CipherSuite), "SHA384") {
		h = sha512.New384
	}
	return prf(h, ms, label, append(append([]byte(nil), cr...), sr...), n), nil
}

// framer splits outgoing TLS data into EAP messages and reassembles incoming ones
// (RFC 5216 2.1.5 and 3.1: L and M flags, an empty message acknowledges a fragment).
type framer struct {
	typ     Type
	version uint8
	pending []byte // TLS data still to send
	sent    int    // of the current message
	in      []byte
	inLen   int
	inFrag  bool
}

// next returns the data of the next EAP message carrying f.pending (empty: an ack).
func (f *framer) next() []byte {
	first := f.sent == 0
	chunk := f.pending
	flags := f.version
	more := len(chunk) > FragmentSize
	if more {
		chunk = chunk[:FragmentSize]
		flags |= flagM
	}
	var d []byte
	if first && more {
		d = []byte{flags | flagL, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(d[1:], uint32(len(f.pending)))
	} else {
		d = []byte{flags}
	}
	d = append(d, chunk...)
	f.pending = f.pending[len(chunk):]
	if more {
		f.sent += len(chunk)
	} else {
		f.sent = 0
	}
	return d
}

// sending says whether fragments of the last message are still to go.
func (f *framer) sending() bool { return f.sent > 0 }

// errMore: the message was a fragment; acknowledge it and wait.
var errMore = errors.New("more fragments")

// take reads one incoming message's data; it returns the whole TLS message once
// reassembled, errMore after a fragment, and for a bare ack (no data, no flags but the
// version) nil and no error.
func (f *framer) take(d []byte) (msg []byte, start bool, err error) {
	if len(d) < 1 {
		return nil, false, fmt.Errorf("%w: no flags byte", ErrMalformed)
	}
	flags := d[0]
	d = d[1:]
	if flags&flagL != 0 {
		if len(d) < 4 {
			return nil, false, fmt.Errorf("%w: short TLS message length", ErrMalformed)
		}
		l := int(binary.BigEndian.Uint32(d))
		d = d[4:]
		if l > maxTLSMessage || l < len(d) {
			return nil, false, fmt.Errorf("%w: TLS message length %d", ErrMalformed, l)
		}
		if !f.inFrag {
			f.inLen = l
		}
	}
	if len(f.in)+len(d) > maxTLSMessage {
		return nil, false, fmt.Errorf("%w: TLS message over %d bytes", ErrMalformed, maxTLSMessage)
	}
	f.in = append(f.in, d...)
	if flags&flagM != 0 {
		f.inFrag = true
		return nil, false, errMore
	}
	msg, f.in, f.inFrag = f.in, nil, false
	want := f.inLen
	f.inLen = 0
	if want != 0 && len(msg) != want {
		return nil, false, fmt.Errorf("%w: reassembled %d bytes, announced %d", ErrMalformed, len(msg), want)
	}
	return msg, flags&flagS != 0, nil
}

// ack is an empty message acknowledging a fragment.
func (f *framer) ack() []byte { return []byte{f.version} }
