package ike

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"encoding/binary"
	"fmt"
	"time"
)

// v1P1 is one Phase 1 transform: cipher, hash, DH group, authentication method and
// lifetime (RFC 2409 appendix A).
type v1P1 struct {
	encr    *EncrSpec
	keyBits int
	hash    *HashSpec
	group   uint16
	auth    uint16
	life    time.Duration
	lifeKB  uint64
}

var v1HashIDs = map[uint16]uint16{ // IKEv1 hash attribute -> IKEv2 PRF transform id
	v1HashMD5: PRFHMACMD5, v1HashSHA1: PRFHMACSHA1, v1HashSHA256: PRFHMACSHA256,
	v1HashSHA384: PRFHMACSHA384, v1HashSHA512: PRFHMACSHA512,
}

var v1AuthAlgs = map[uint16]uint16{ // IKEv1 ESP auth algorithm -> IKEv2 integrity id
	v1AuthAlgHMACMD5: IntegMD596, v1AuthAlgHMACSHA1: IntegSHA196, v1AuthAlgHMACSHA256: IntegSHA256128,
	v1AuthAlgHMACSHA384: IntegSHA384192, v1AuthAlgHMACSHA512: IntegSHA512256,
}

func reverse16(m map[uint16]uint16, v uint16) (uint16, bool) {
	for k, x := range m {
		if x == v {
			return k, true
		}
	}
	return 0, false
}

// v1P1Offers expands the profile's proposal (several ciphers, hashes and groups) into
// the Phase 1 transforms IKEv1 sends, one per combination.
func v1P1Offers(ps []Proposal, auth uint16, life time.Duration, lifeKB uint64) []v1P1 {
	var out []v1P1
	for _, p := range ps {
		var encs []Transform
		var prfs, dhs []uint16
		for _, t := range p.Transforms {
			switch t.Type {
			case TransformENCR:
				if t.ID == EncrAESCBC || t.ID == EncrDES3 {
					encs = append(encs, t)
				}
			case TransformPRF:
				prfs = append(prfs, t.ID)
			case TransformDH:
				dhs = append(dhs, t.ID)
			}
		}
		for _, g := range dhs {
			for _, e := range encs {
				for _, h := range prfs {
					out = append(out, v1P1{encr: Encr(e.ID), keyBits: int(e.KeyLen), hash: PRF(h), group: g, auth: auth,
						life: life, lifeKB: lifeKB})
				}
			}
		}
	}
	return out
}

func (s v1P1) transform(num uint8) v1Transform {
	enc := uint64(v1EncAES)
	if s.encr.ID == EncrDES3 {
		enc = v1EncDES3
	}
	hid, _ := reverse16(v1HashIDs, s.hash.ID)
	t := v1Transform{Num: num, ID: v1TransformKeyIKE, Attrs: []v1Attr{{v1AEnc, enc}}}
	if s.keyBits != 0 {
		t.Attrs = append(t.Attrs, v1Attr{v1AKeyLength, uint64(s.keyBits)})
	}
	t.Attrs = append(t.Attrs, v1Attr{v1AHash, uint64(hid)}, v1Attr{v1AAuth, uint64(s.auth)}, v1Attr{v1AGroup, uint64(s.group)})
	if s.life > 0 {
		t.Attrs = append(t.Attrs, v1Attr{v1ALifeType, v1LifeSeconds}, v1Attr{v1ALifeDur, uint64(s.life / time.Second)})
	}
	if s.lifeKB > 0 {
		t.Attrs = append(t.Attrs, v1Attr{v1ALifeType, v1LifeKilobytes}, v1Attr{v1ALifeDur, s.lifeKB})
	}
	return t
}

// v1P1Of reads a Phase 1 transform; unknown or unsupported values are errors.
func v1P1Of(t *v1Transform) (v1P1, error) {
	var s v1P1
	if t.ID != v1TransformKeyIKE {
		return s, fmt.Errorf("%w: transform id %d", ErrNotSupported, t.ID)
	}
	lifeType := uint64(0)
	for _, a := range t.Attrs {
		switch a.Type {
		case v1AEnc:
			switch a.Value {
			case v1EncAES:
				s.encr = Encr(EncrAESCBC)
			case v1EncDES3:
				s.encr = Encr(EncrDES3)
			default:
				return s, fmt.Errorf("%w: cipher %d", ErrNotSupported, a.Value)
			}
		case v1AKeyLength:
			s.keyBits = int(a.Value)
		case v1AHash:
			id, ok := v1HashIDs[uint16(a.Value)]
			if !ok {
				return s, fmt.Errorf("%w: hash %d", ErrNotSupported, a.Value)
			}
			s.hash = PRF(id)
		case v1AAuth:
			s.auth = uint16(a.Value)
		case v1AGroup:
			s.group = uint16(a.Value)
		case v1ALifeType:
			lifeType = a.Value
		case v1ALifeDur:
			switch lifeType {
			case v1LifeSeconds:
				s.life = time.Duration(min(a.Value, 1<<32)) * time.Second
			case v1LifeKilobytes:
				s.lifeKB = a.Value
			}
		}
	}
	if s.encr == nil || s.hash == nil || s.group == 0 || s.auth == 0 {
		return s, malformed("Phase 1 transform without cipher, hash, group or method")
	}
	if s.encr.ID == EncrAESCBC && s.keyBits == 0 {
		s.keyBits = 128 // RFC 3602: AES without a key length is AES-128
	}
	if s.encr.KeyLens != nil && s.keyBits != 128 && s.keyBits != 192 && s.keyBits != 256 {
		return s, fmt.Errorf("%w: key length %d", ErrNotSupported, s.keyBits)
	}
	if !DHSupported(s.group) {
		return s, fmt.Errorf("%w: DH group %d", ErrNotSupported, s.group)
	}
	return s, nil
}

func (s v1P1) String() string {
	return (&Suite{Encr: s.encr, KeyBits: s.keyBits, Integ: integForPRF(s.hash), DH: s.group}).String()
}

func integForPRF(h *HashSpec) *HashSpec {
	for _, x := range integSpecs {
		if x.Name == h.Name {
			return x
		}
	}
	return nil
}

// racoon's names in "rejected ..." lines.
func v1EncName(e *EncrSpec) string {
	if e.ID == EncrDES3 {
		return "3DES-CBC"
	}
	return "AES-CBC"
}

func v1HashName(h *HashSpec) string {
	switch h.ID {
	case PRFHMACMD5:
		return "MD5"
	case PRFHMACSHA1:
		return "SHA"
	}
	return "SHA2_" + h.Name[3:]
}

func v1GroupName(g uint16) string {
	switch g {
	case DHModp768, DHModp1024, DHModp1536, DHModp2048, DHModp3072, DHModp4096, DHModp6144, DHModp8192:
		return fmt.Sprintf("%d-bit MODP group", modpParams[g].bits)
	}
	return DHName(g)
}

func v1AuthName(a uint16) string {
	switch a {
	case v1AuthPSK:
		return "pre-shared key"
	case v1AuthXAuthInitPSK:
		return "XAuth InitPreShared"
	case v1AuthXAuthRespPSK:
		return "XAuth RespPreShared"
	case v1AuthRSASig:
		return "RSA signatures"
	case v1AuthHybridInitRSA:
		return "Hybrid InitRSA"
	case v1AuthXAuthInitRSA:
		return "XAuth InitRSA"
	case v1AuthECDSA256:
		return "ECDSA-256"
	case v1AuthECDSA384:
		return "ECDSA-384"
	case v1AuthECDSA521:
		return "ECDSA-521"
	}
	return fmt.Sprintf("method %d", a)
}

// v1Keys are a Phase 1 SA's keys (RFC 2409 5): SKEYID and its derivatives and the CBC
// cipher of the encrypted payloads.
type v1Keys struct {
	hash                 *HashSpec
	skeyid, d, a, e, key []byte
	block                cipher.Block
}

// deriveV1 computes SKEYID for pre-shared keys and the keys from it.
func deriveV1(s v1P1, psk, ni, nr, gxy []byte, ci, cr uint64) (*v1Keys, error) {
	k := &v1Keys{hash: s.hash}
	if v1SigAuth(s.auth) {
		// Signatures: SKEYID = prf(Ni_b | Nr_b, g^xy) (RFC 2409 5).
		k.skeyid = s.hash.Sum(append(append([]byte{}, ni...), nr...), gxy)
	} else {
		k.skeyid = s.hash.Sum(psk, ni, nr)
	}
	cky := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, ci), cr)
	k.d = s.hash.Sum(k.skeyid, gxy, cky, []byte{0})
	k.a = s.hash.Sum(k.skeyid, k.d, gxy, cky, []byte{1})
	k.e = s.hash.Sum(k.skeyid, k.a, gxy, cky, []byte{2})
	n := s.encr.KeyBytes(s.keyBits)
	key := k.e
	if len(key) < n {
		// RFC 2409 appendix B: Ka = K1 | K2 | ..., K1 = prf(SKEYID_e, 0).
		var ka []byte
		prev := []byte{0}
		for len(ka) < n {
			prev = s.hash.Sum(k.e, prev)
			ka = append(ka, prev...)
		}
		key = ka
	}
	k.key = key[:n]
	var err error
	if s.encr.ID == EncrDES3 {
		k.block, err = des.NewTripleDESCipher(k.key)
	} else {
		k.block, err = aes.NewCipher(k.key)
	}
	return k, err
}

// hashOf is the plain hash (not HMAC) of the negotiated algorithm: IVs and NAT-D.
func (k *v1Keys) hashOf(data ...[]byte) []byte {
	h := k.hash.New()
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}

// iv0 is the first Phase 1 IV: hash(g^xi | g^xr).
func (k *v1Keys) iv0(gxi, gxr []byte) []byte {
	return k.hashOf(gxi, gxr)[:k.block.BlockSize()]
}

// ivFor is the first IV of a Phase 2 or informational exchange: hash(last Phase 1
// IV | M-ID).
func (k *v1Keys) ivFor(p1iv []byte, msgID uint32) []byte {
	return k.hashOf(p1iv, binary.BigEndian.AppendUint32(nil, msgID))[:k.block.BlockSize()]
}

// encrypt pads plaintext with zeros to the block size and encrypts it; it returns the
// ciphertext, whose last block is the next IV of the exchange.
func (k *v1Keys) encrypt(iv, pt []byte) []byte {
	bs := k.block.BlockSize()
	out := make([]byte, (len(pt)+bs-1)/bs*bs)
	if len(out) == 0 {
		out = make([]byte, bs)
	}
	copy(out, pt)
	cipher.NewCBCEncrypter(k.block, iv).CryptBlocks(out, out)
	return out
}

func (k *v1Keys) decrypt(iv, ct []byte) ([]byte, error) {
	bs := k.block.BlockSize()
	if len(ct) == 0 || len(ct)%bs != 0 {
		return nil, malformed("encrypted body of %d bytes", len(ct))
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(k.block, iv).CryptBlocks(pt, ct)
	return pt, nil
}

func lastBlock(ct []byte, bs int) []byte { return append([]byte(nil), ct[len(ct)-bs:]...) }

// v1Keymat expands Quick Mode key material for one SA direction (RFC 2409 5.5):
// KEYMAT = K1 | K2 | ..., K1 = prf(SKEYID_d, [g^xy |] protocol | SPI | Ni_b | Nr_b).
func (k *v1Keys) keymat(gxy []byte, proto uint8, spi uint32, ni, nr []byte, n int) []byte {
	seed := append(append(append(append([]byte{}, gxy...), proto), binary.BigEndian.AppendUint32(nil, spi)...), ni...)
	seed = append(seed, nr...)
	var out, prev []byte
	for len(out) < n {
		prev = k.hash.Sum(k.d, prev, seed)
		out = append(out, prev...)
	}
	return out[:n]
}
