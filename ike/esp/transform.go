package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// Errors of Open (the decapsulation step), mapped onto statistics counters by callers.
var (
	errShort   = errors.New("esp: packet too short")
	errAuth    = errors.New("esp: integrity check failed")
	errPadding = errors.New("esp: bad padding")
)

// transform is one SA's cipher suite: it seals a payload into the ESP wire form (SPI,
// sequence, IV, ciphertext, trailer, ICV) and opens it again. It is safe for concurrent use.
type transform struct {
	aead     cipher.AEAD // gcm, chacha20poly1305
	salt     []byte      // AEAD/CTR nonce prefix
	block    cipher.Block
	ctr      bool // aes-ctr (RFC 3686)
	ivLen    int
	align    int // the ciphertext is padded to a multiple of this
	icvLen   int
	macPool  *sync.Pool // hash.Hash with the key, nil: no integrity (AEAD or null)
	encName  string
	authName string
}

type encSpec struct {
	keyLen, saltLen int
	kind            string // gcm, chacha, cbc, ctr, 3des, null
}

var encAlgs = map[string]encSpec{
	"aes-128-gcm":      {16, 4, "gcm"},
	"aes-192-gcm":      {24, 4, "gcm"},
	"aes-256-gcm":      {32, 4, "gcm"},
	"chacha20poly1305": {32, 4, "chacha"},
	"aes-128-cbc":      {16, 0, "cbc"},
	"aes-192-cbc":      {24, 0, "cbc"},
	"aes-256-cbc":      {32, 0, "cbc"},
	"aes-128-ctr":      {16, 4, "ctr"},
	"aes-192-ctr":      {24, 4, "ctr"},
	"aes-256-ctr":      {32, 4, "ctr"},
	"3des":             {24, 0, "3des"},
	"null":             {0, 0, "null"},
}

type authSpec struct {
	newHash func() hash.Hash
	keyLen  int
	icvLen  int
}

var authAlgs = map[string]authSpec{
	"md5":    {md5.New, 16, 12},
	"sha1":   {sha1.New, 20, 12},
	"sha256": {sha256.New, 32, 16},
	"sha384": {sha512.New384, 48, 24},
	"sha512": {sha512.New, 64, 32},
}

// IsAEAD tells whether enc carries its own integrity (auth-algorithms is then ignored).
func IsAEAD(enc string) bool {
	k := encAlgs[enc].kind
	return k == "gcm" || k == "chacha"
}

// KeyLengths returns the keying material lengths IKE must derive for a proposal (the
// encryption length includes the salt).
func KeyLengths(enc, auth string) (encLen, authLen int, err error) {
	es, ok := encAlgs[enc]
	if !ok {
		return 0, 0, fmt.Errorf("%w: enc-algorithm %q", ErrUnknownAlgorithm, enc)
	}
	if IsAEAD(enc) || auth == "" || auth == "null" {
		return es.keyLen + es.saltLen, 0, nil
	}
	as, ok := authAlgs[auth]
	if !ok {
		return 0, 0, fmt.Errorf("%w: auth-algorithm %q", ErrUnknownAlgorithm, auth)
	}
	return es.keyLen + es.saltLen, as.keyLen, nil
}

func newTransform(sa *SA) (*transform, error) {
	enc := strings.ToLower(sa.EncAlg)
	es, ok := encAlgs[enc]
	if !ok {
		return nil, fmt.Errorf("%w: enc-algorithm %q", ErrUnknownAlgorithm, sa.EncAlg)
	}
	if len(sa.EncKey) != es.keyLen+es.saltLen {
		return nil, fmt.Errorf("%w: %s wants %d bytes of key (salt included), got %d", ErrBadKey, enc, es.keyLen+es.saltLen, len(sa.EncKey))
	}
	key, salt := sa.EncKey[:es.keyLen], append([]byte(nil), sa.EncKey[es.keyLen:]...)
	t := &transform{salt: salt, encName: enc, align: 4}
	var err error
	switch es.kind {
	case "gcm":
		var b cipher.Block
		if b, err = aes.NewCipher(key); err == nil {
			t.aead, err = cipher.NewGCM(b)
		}
		t.ivLen, t.icvLen = 8, 16
	case "chacha":
		t.aead, err = chacha20poly1305.New(key)
		t.ivLen, t.icvLen = 8, 16
	case "cbc":
		t.block, err = aes.NewCipher(key)
		t.ivLen, t.align = 16, 16
	case "ctr":
		t.block, err = aes.NewCipher(key)
		t.ivLen, t.ctr = 8, true
	case "3des":
		t.block, err = des.NewTripleDESCipher(key)
		t.ivLen, t.align = 8, 8
	case "null":
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadKey, enc, err)
	}
	if t.aead != nil {
		return t, nil
	}
	auth := strings.ToLower(sa.AuthAlg)
	if auth == "" || auth == "null" {
		if es.kind == "null" {
			return nil, fmt.Errorf("%w: enc-algorithm null needs an auth-algorithm", ErrUnknownAlgorithm)
		}
		t.authName = "null"
		return t, nil
	}
	as, ok := authAlgs[auth]
	if !ok {
		return nil, fmt.Errorf("%w: auth-algorithm %q", ErrUnknownAlgorithm, sa.AuthAlg)
	}
	if len(sa.AuthKey) != as.keyLen {
		return nil, fmt.Errorf("%w: %s wants %d bytes of key, got %d", ErrBadKey, auth, as.keyLen, len(sa.AuthKey))
	}
	akey := append([]byte(nil), sa.AuthKey...)
	t.authName = auth
	t.icvLen = as.icvLen
	t.macPool = &sync.Pool{New: func() any { return hmac.New(as.newHash, akey) }}
	return t, nil
}

// minLen is the shortest ESP packet this transform can open (an empty payload).
func (t *transform) minLen() int { return t.sealedLen(0) }

// sealedLen is the exact ESP length of a payload of n bytes.
func (t *transform) sealedLen(n int) int {
	body := n + 2
	body += (t.align - body%t.align) % t.align
	return 8 + t.ivLen + body + t.icvLen
}

// innerMTU is the largest inner packet whose ESP packet, behind an outer IPv4 (v4) or
// IPv6 header and UDP encapsulation (udp), fits an underlay of MTU l.
func (t *transform) innerMTU(l int, v4, udp bool) int {
	outer := 40
	if v4 {
		outer = 20
	}
	if udp {
		outer += 8
	}
	n := l - outer - 8 - t.ivLen - t.icvLen - 2 // no padding: the most it can be
	for n > 0 && outer+t.sealedLen(n) > l {
		n--
	}
	return n
}

// seal writes the ESP packet for payload into dst (len(dst) >= sealedLen) and returns its
// length. payload must not overlap dst except exactly at dst[8+ivLen:] (in-place).
func (t *transform) seal(dst []byte, spi uint32, seq uint64, esn bool, payload []byte, nextHdr byte) int {
	n := len(payload)
	body := n + 2
	padLen := (t.align - body%t.align) % t.align
	body += padLen
	hdr := 8 + t.ivLen
	total := hdr + body + t.icvLen
	dst = dst[:total]
	binary.BigEndian.PutUint32(dst[0:], spi)
	binary.BigEndian.PutUint32(dst[4:], uint32(seq))
	pt := dst[hdr : hdr+body]
	copy(pt, payload)
	for i := 0; i < padLen; i++ {
		pt[n+i] = byte(i + 1) // RFC 4303 2.4: monotonic 1, 2, 3...
	}
	pt[n+padLen] = byte(padLen)
	pt[n+padLen+1] = nextHdr
	iv := dst[8:hdr]
	if t.aead != nil {
		binary.BigEndian.PutUint64(iv, seq) // unique per SA, as RFC 4106 8.1 permits
		var nonce [12]byte
		copy(nonce[:4], t.salt)
		copy(nonce[4:], iv)
		var aad [12]byte
		ad := aadFor(aad[:], dst, seq, esn)
		t.aead.Seal(pt[:0], nonce[:], pt, ad)
		return total
	}
	switch {
	case t.ctr:
		binary.BigEndian.PutUint64(iv, seq)
		cipher.NewCTR(t.block, t.ctrBlock(iv)).XORKeyStream(pt, pt)
	case t.block != nil:
		rand.Read(iv) // CBC needs an unpredictable IV (RFC 3602 3)
		cipher.NewCBCEncrypter(t.block, iv).CryptBlocks(pt, pt)
	}
	if t.macPool != nil {
		t.mac(dst[total-t.icvLen:total], dst[:hdr+body], seq, esn)
	}
	return total
}

func aadFor(aad, pkt []byte, seq uint64, esn bool) []byte {
	copy(aad[:4], pkt[:4])
	if esn {
		binary.BigEndian.PutUint32(aad[4:], uint32(seq>>32))
		binary.BigEndian.PutUint32(aad[8:], uint32(seq))
		return aad[:12]
	}
	binary.BigEndian.PutUint32(aad[4:], uint32(seq))
	return aad[:8]
}

func (t *transform) ctrBlock(iv []byte) []byte {
	b := make([]byte, 16)
	copy(b[:4], t.salt)
	copy(b[4:12], iv)
	b[15] = 1
	return b
}

// mac computes the truncated ICV over authenticated bytes; with ESN the high half of the
// sequence number is appended to the input only (RFC 4303 2.2.1).
func (t *transform) mac(out, data []byte, seq uint64, esn bool) {
	h := t.macPool.Get().(hash.Hash)
	h.Reset()
	h.Write(data)
	if esn {
		var hi [4]byte
		binary.BigEndian.PutUint32(hi[:], uint32(seq>>32))
		h.Write(hi[:])
	}
	var sum [64]byte
	s := h.Sum(sum[:0])
	copy(out, s[:t.icvLen])
	t.macPool.Put(h)
}

// open checks and decrypts an ESP packet in place (pkt starts at the SPI) with the full
// sequence number seq (already inferred for ESN) and returns the payload (a sub-slice of
// pkt) and the next header.
func (t *transform) open(pkt []byte, seq uint64, esn bool) ([]byte, byte, error) {
	hdr := 8 + t.ivLen
	if len(pkt) < hdr+t.icvLen+t.align || len(pkt) < hdr+t.icvLen+2 {
		return nil, 0, errShort
	}
	body := pkt[hdr : len(pkt)-t.icvLen]
	if len(body)%t.align != 0 {
		return nil, 0, errPadding
	}
	if t.aead != nil {
		var nonce [12]byte
		copy(nonce[:4], t.salt)
		copy(nonce[4:], pkt[8:hdr])
		var aad [12]byte
		ad := aadFor(aad[:], pkt, seq, esn)
		if _, err := t.aead.Open(body[:0], nonce[:], pkt[hdr:], ad); err != nil {
			return nil, 0, errAuth
		}
	} else {
		if t.macPool != nil {
			var want [64]byte
			t.mac(want[:t.icvLen], pkt[:len(pkt)-t.icvLen], seq, esn)
			if subtle.ConstantTimeCompare(want[:t.icvLen], pkt[len(pkt)-t.icvLen:]) != 1 {
				return nil, 0, errAuth
			}
		}
		iv := pkt[8:hdr]
		switch {
		case t.ctr:
			cipher.NewCTR(t.block, t.ctrBlock(iv)).XORKeyStream(body, body)
		case t.block != nil:
			cipher.NewCBCDecrypter(t.block, iv).CryptBlocks(body, body)
		}
	}
	padLen := int(body[len(body)-2])
	nh := body[len(body)-1]
	if padLen+2 > len(body) {
		return nil, 0, errPadding
	}
	return body[:len(body)-2-padLen], nh, nil
}
