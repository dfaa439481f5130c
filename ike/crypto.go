package ike

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
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrNotSupported reports an algorithm this build cannot provide.
var ErrNotSupported = errors.New("not supported")

// ErrIntegrity reports an encrypted payload whose ICV or AEAD tag does not verify.
var ErrIntegrity = errors.New("integrity check failed")

// Transform IDs (IANA "IKEv2 Parameters").
const (
	EncrDES3     = 3
	EncrNull     = 11
	EncrAESCBC   = 12
	EncrAESCTR   = 13
	EncrAESGCM8  = 18
	EncrAESGCM12 = 19
	EncrAESGCM16 = 20
	EncrChaCha   = 28

	PRFHMACMD5    = 1
	PRFHMACSHA1   = 2
	PRFHMACSHA256 = 5
	PRFHMACSHA384 = 6
	PRFHMACSHA512 = 7

	IntegNone      = 0
	IntegMD596     = 1
	IntegSHA196    = 2
	IntegSHA256128 = 12
	IntegSHA384192 = 13
	IntegSHA512256 = 14
)

// EncrSpec describes an encryption transform.
type EncrSpec struct {
	ID      uint16
	Name    string
	KeyLens []int // allowed key lengths in bits; nil: fixed key, no Key Length attribute
	Fixed   int   // fixed key length in bytes when KeyLens is nil
	Salt    int   // bytes of key material after the key (GCM/CTR/ChaCha nonce salt)
	IV      int   // explicit IV bytes in each message
	Block   int   // padding alignment
	ICV     int   // AEAD tag bytes; 0 for non-AEAD
}

// AEAD reports whether the transform is combined mode (no separate integrity).
func (e *EncrSpec) AEAD() bool { return e.ICV > 0 }

// KeyBytes is the key material length for key length bits (0 for fixed-key ciphers).
func (e *EncrSpec) KeyBytes(bits int) int {
	if e.KeyLens == nil {
		return e.Fixed + e.Salt
	}
	return bits/8 + e.Salt
}

var encrSpecs = map[uint16]*EncrSpec{
	EncrDES3:     {ID: EncrDES3, Name: "3des", Fixed: 24, IV: 8, Block: 8},
	EncrAESCBC:   {ID: EncrAESCBC, Name: "aes-cbc", KeyLens: []int{128, 192, 256}, IV: 16, Block: 16},
	EncrAESCTR:   {ID: EncrAESCTR, Name: "aes-ctr", KeyLens: []int{128, 192, 256}, Salt: 4, IV: 8, Block: 1},
	EncrAESGCM16: {ID: EncrAESGCM16, Name: "aes-gcm", KeyLens: []int{128, 192, 256}, Salt: 4, IV: 8, Block: 1, ICV: 16},
	EncrAESGCM12: {ID: EncrAESGCM12, Name: "aes-gcm12", KeyLens: []int{128, 192, 256}, Salt: 4, IV: 8, Block: 1, ICV: 12},
	EncrChaCha:   {ID: EncrChaCha, Name: "chacha20poly1305", Fixed: 32, Salt: 4, IV: 8, Block: 1, ICV: 16},
	EncrNull:     {ID: EncrNull, Name: "null", Fixed: 0, IV: 0, Block: 1},
}

// Encr returns the spec of an encryption transform, or nil when unsupported.
func Encr(id uint16) *EncrSpec { return encrSpecs[id] }

// HashSpec describes a PRF or integrity transform built on HMAC.
type HashSpec struct {
	ID    uint16
	Name  string
	New   func() hash.Hash
	Key   int // key bytes
	Trunc int // output bytes (integrity: truncated ICV; PRF: full output)
}

var prfSpecs = map[uint16]*HashSpec{
	PRFHMACMD5:    {PRFHMACMD5, "md5", md5.New, 16, 16},
	PRFHMACSHA1:   {PRFHMACSHA1, "sha1", sha1.New, 20, 20},
	PRFHMACSHA256: {PRFHMACSHA256, "sha256", sha256.New, 32, 32},
	PRFHMACSHA384: {PRFHMACSHA384, "sha384", sha512.New384, 48, 48},
	PRFHMACSHA512: {PRFHMACSHA512, "sha512", sha512.New, 64, 64},
}

var integSpecs = map[uint16]*HashSpec{
	IntegMD596:     {IntegMD596, "md5", md5.New, 16, 12},
	IntegSHA196:    {IntegSHA196, "sha1", sha1.New, 20, 12},
	IntegSHA256128: {IntegSHA256128, "sha256", sha256.New, 32, 16},
	IntegSHA384192: {IntegSHA384192, "sha384", sha512.New384, 48, 24},
	IntegSHA512256: {IntegSHA512256, "sha512", sha512.New, 64, 32},
}

// PRF returns the spec of a PRF transform, or nil.
func PRF(id uint16) *HashSpec { return prfSpecs[id] }

// Integ returns the spec of an integrity transform, or nil.
func Integ(id uint16) *HashSpec { return integSpecs[id] }

// Sum computes prf(key, data...).
func (h *HashSpec) Sum(key []byte, data ...[]byte) []byte {
	m := hmac.New(h.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// PRFPlus is prf+ of RFC 7296 2.13, n bytes.
func (h *HashSpec) PRFPlus(key, seed []byte, n int) []byte {
	out := make([]byte, 0, n+h.Trunc)
	var t []byte
	m := hmac.New(h.New, key)
	for i := 1; len(out) < n; i++ {
		if i > 255 {
			panic("ike: prf+ output too long")
		}
		m.Reset()
		m.Write(t)
		m.Write(seed)
		m.Write([]byte{byte(i)})
		t = m.Sum(nil)
		out = append(out, t...)
	}
	return out[:n]
}

// Cipher protects SK payloads in one direction.
type Cipher struct {
	encr  *EncrSpec
	integ *HashSpec
	ikey  []byte
	salt  []byte
	aead  cipher.AEAD
	block cipher.Block
}

// NewCipher builds the cipher of an encryption key (including salt) and integrity key.
func NewCipher(encr *EncrSpec, ekey []byte, integ *HashSpec, ikey []byte) (*Cipher, error) {
	c := &Cipher{encr: encr, integ: integ, ikey: ikey}
	k := ekey[:len(ekey)-encr.Salt]
	c.salt = ekey[len(ekey)-encr.Salt:]
	var err error
	switch encr.ID {
	case EncrDES3:
		c.block, err = des.NewTripleDESCipher(k)
	case EncrAESCBC, EncrAESCTR:
		c.block, err = aes.NewCipher(k)
	case EncrAESGCM16, EncrAESGCM12:
		var b cipher.Block
		if b, err = aes.NewCipher(k); err == nil {
			c.aead, err = cipher.NewGCMWithTagSize(b, encr.ICV)
		}
	case EncrChaCha:
		c.aead, err = chacha20poly1305.New(k)
	case EncrNull:
	default:
		return nil, fmt.Errorf("encryption transform %d: %w", encr.ID, ErrNotSupported)
	}
	if err != nil {
		return nil, err
	}
	if c.aead == nil && integ == nil {
		return nil, fmt.Errorf("encryption %s without integrity: %w", encr.Name, ErrNotSupported)
	}
	return c, nil
}

// Overhead is the number of bytes the encrypted body adds to n bytes of plaintext.
func (c *Cipher) Overhead(n int) int {
	pad := c.padLen(n)
	return c.encr.IV + pad + 1 + c.icvLen()
}

func (c *Cipher) icvLen() int {
	if c.aead != nil {
		return c.encr.ICV
	}
	return c.integ.Trunc
}

func (c *Cipher) padLen(n int) int {
	bs := c.encr.Block
	return (bs - (n+1)%bs) % bs
}

func (c *Cipher) nonce(iv []byte) []byte {
	return append(append(make([]byte, 0, 12), c.salt...), iv...)
}

// Seal appends the encrypted body of plaintext to msg, whose bytes so far (IKE header
// and the encrypted payload's header, with lengths already final) are the associated
// data. The caller fixes lengths before calling: see SealedLen.
func (c *Cipher) Seal(msg, plaintext []byte) []byte {
	aadLen := len(msg)
	iv := make([]byte, c.encr.IV)
	rand.Read(iv)
	msg = append(msg, iv...)
	pad := c.padLen(len(plaintext))
	pt := make([]byte, 0, len(plaintext)+pad+1+c.encr.ICV)
	pt = append(pt, plaintext...)
	pt = append(pt, make([]byte, pad)...)
	pt = append(pt, byte(pad))
	switch {
	case c.aead != nil:
		return c.aead.Seal(msg, c.nonce(iv), pt, msg[:aadLen])
	case c.encr.ID == EncrNull:
		msg = append(msg, pt...)
	case c.encr.ID == EncrAESCTR:
		ctr := append(c.nonce(iv), 0, 0, 0, 1)
		start := len(msg)
		msg = append(msg, pt...)
		cipher.NewCTR(c.block, ctr).XORKeyStream(msg[start:], msg[start:])
	default:
		start := len(msg)
		msg = append(msg, pt...)
		cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(msg[start:], msg[start:])
	}
	mac := c.integ.Sum(c.ikey, msg)
	return append(msg, mac[:c.integ.Trunc]...)
}

// Open verifies and decrypts an encrypted body; aad is the message from the IKE header
// through the encrypted payload's header (and fragment fields). It returns the
// plaintext without padding.
func (c *Cipher) Open(aad, body []byte) ([]byte, error) {
	iv, icv := c.encr.IV, c.icvLen()
	if len(body) < iv+icv+1 {
		return nil, malformed("encrypted payload of %d bytes", len(body))
	}
	var pt []byte
	if c.aead != nil {
		var err error
		pt, err = c.aead.Open(nil, c.nonce(body[:iv]), body[iv:], aad)
		if err != nil {
			return nil, ErrIntegrity
		}
	} else {
		m := hmac.New(c.integ.New, c.ikey)
		m.Write(aad)
		m.Write(body[:len(body)-icv])
		if subtle.ConstantTimeCompare(m.Sum(nil)[:icv], body[len(body)-icv:]) != 1 {
			return nil, ErrIntegrity
		}
		ct := body[iv : len(body)-icv]
		pt = make([]byte, len(ct))
		switch c.encr.ID {
		case EncrNull:
			copy(pt, ct)
		case EncrAESCTR:
			cipher.NewCTR(c.block, append(c.nonce(body[:iv]), 0, 0, 0, 1)).XORKeyStream(pt, ct)
		default:
			if len(ct)%c.encr.Block != 0 {
				return nil, malformed("ciphertext not a multiple of the block size")
			}
			cipher.NewCBCDecrypter(c.block, body[:iv]).CryptBlocks(pt, ct)
		}
	}
	if len(pt) < 1 || int(pt[len(pt)-1]) >= len(pt) {
		return nil, malformed("bad padding")
	}
	return pt[:len(pt)-1-int(pt[len(pt)-1])], nil
}
