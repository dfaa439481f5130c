package ike

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Suite is the algorithms of one negotiated proposal.
type Suite struct {
	Protocol ProtocolID
	Encr     *EncrSpec
	KeyBits  int       // key length attribute (0 for fixed-key ciphers)
	Integ    *HashSpec // nil for AEAD
	PRF      *HashSpec // IKE only
	DH       uint16    // 0: none (CHILD SA without PFS)
	ESN      bool
}

// EncrKeyLen is the bytes of key material (with salt) the encryption transform takes.
func (s *Suite) EncrKeyLen() int { return s.Encr.KeyBytes(s.KeyBits) }

// IntegKeyLen is the bytes of integrity key material.
func (s *Suite) IntegKeyLen() int {
	if s.Integ == nil {
		return 0
	}
	return s.Integ.Key
}

// String names the suite the way strongSwan writes proposals (aes128-sha256-modp2048),
// which is also what logs show.
func (s *Suite) String() string {
	var parts []string
	parts = append(parts, encrName(s.Encr, s.KeyBits))
	if s.Integ != nil {
		parts = append(parts, s.Integ.Name)
	}
	if s.PRF != nil && (s.Integ == nil || s.PRF.Name != s.Integ.Name) {
		parts = append(parts, "prf"+s.PRF.Name)
	}
	if s.DH != 0 {
		parts = append(parts, dhNames[s.DH])
	}
	return strings.Join(parts, "-")
}

func encrName(e *EncrSpec, bits int) string {
	switch e.ID {
	case EncrAESCBC:
		return "aes" + strconv.Itoa(bits)
	case EncrAESCTR:
		return "aes" + strconv.Itoa(bits) + "ctr"
	case EncrAESGCM16:
		return "aes" + strconv.Itoa(bits) + "gcm16"
	case EncrAESGCM12:
		return "aes" + strconv.Itoa(bits) + "gcm12"
	case EncrChaCha:
		return "chacha20poly1305"
	}
	return e.Name
}

var dhNames = map[uint16]string{
	DHModp768: "modp768", DHModp1024: "modp1024", DHModp1536: "modp1536", DHModp2048: "modp2048",
	DHModp3072: "modp3072", DHModp4096: "modp4096", DHModp6144: "modp6144", DHModp8192: "modp8192",
	DHECP256: "ecp256", DHECP384: "ecp384", DHECP521: "ecp521", DHCurve25519: "curve25519",
}

// DHByName returns the transform ID of a group named as RouterOS and strongSwan name them.
func DHByName(name string) (uint16, bool) {
	for id, n := range dhNames {
		if n == name {
			return id, true
		}
	}
	return 0, false
}

// DHName names a group.
func DHName(id uint16) string {
	if n, ok := dhNames[id]; ok {
		return n
	}
	return "group" + strconv.Itoa(int(id))
}

// SuiteOf checks that a proposal names exactly one transform of each needed type and
// that all are supported, and returns them.
func SuiteOf(p *Proposal) (*Suite, error) {
	s := &Suite{Protocol: p.Protocol}
	seen := map[TransformType]int{}
	for _, t := range p.Transforms {
		seen[t.Type]++
		if seen[t.Type] > 1 {
			return nil, fmt.Errorf("%w: proposal has two transforms of type %d", ErrMalformed, t.Type)
		}
		switch t.Type {
		case TransformENCR:
			s.Encr = Encr(t.ID)
			if s.Encr == nil {
				return nil, fmt.Errorf("encryption %d: %w", t.ID, ErrNotSupported)
			}
			s.KeyBits = int(t.KeyLen)
			if (s.Encr.KeyLens == nil) != (t.KeyLen == 0) || s.Encr.KeyLens != nil && !slices.Contains(s.Encr.KeyLens, s.KeyBits) {
				return nil, fmt.Errorf("%s key length %d: %w", s.Encr.Name, t.KeyLen, ErrNotSupported)
			}
		case TransformPRF:
			if s.PRF = PRF(t.ID); s.PRF == nil {
				return nil, fmt.Errorf("PRF %d: %w", t.ID, ErrNotSupported)
			}
		case TransformINTEG:
			if t.ID == IntegNone {
				continue
			}
			if s.Integ = Integ(t.ID); s.Integ == nil {
				return nil, fmt.Errorf("integrity %d: %w", t.ID, ErrNotSupported)
			}
		case TransformDH:
			if t.ID == 0 {
				continue
			}
			if !DHSupported(t.ID) {
				return nil, fmt.Errorf("DH group %d: %w", t.ID, ErrNotSupported)
			}
			s.DH = t.ID
		case TransformESN:
			s.ESN = t.ID == 1
		}
	}
	if s.Encr == nil {
		return nil, fmt.Errorf("%w: proposal without encryption", ErrMalformed)
	}
	if s.Encr.AEAD() != (s.Integ == nil) {
		return nil, fmt.Errorf("%w: %s with integrity %v", ErrMalformed, s.Encr.Name, s.Integ != nil)
	}
	if p.Protocol == ProtoIKE && (s.PRF == nil || s.DH == 0) {
		return nil, fmt.Errorf("%w: IKE proposal without PRF or DH", ErrMalformed)
	}
	if p.Protocol == ProtoIKE && s.Encr.ID == EncrNull {
		return nil, fmt.Errorf("null encryption for IKE: %w", ErrNotSupported)
	}
	return s, nil
}

// Select picks, as responder, the first offered proposal that our proposals accept,
// narrowed to one transform of each type (the offer's order within a type). It returns
// the chosen proposal with the offer's number and SPI.
func Select(offered, ours []Proposal) (*Proposal, bool) {
	for _, o := range offered {
		for _, m := range ours {
			if o.Protocol != m.Protocol {
				continue
			}
			if c, ok := intersect(&o, &m); ok {
				if _, err := SuiteOf(c); err == nil {
					return c, true
				}
			}
		}
	}
	return nil, false
}

func intersect(o, m *Proposal) (*Proposal, bool) {
	c := &Proposal{Num: o.Num, Protocol: o.Protocol, SPI: o.SPI}
	types := []TransformType{TransformENCR, TransformPRF, TransformINTEG, TransformDH, TransformESN}
	for _, tt := range types {
		var offeredAny, oursAny bool
		var pick *Transform
		for i := range o.Transforms {
			t := &o.Transforms[i]
			if t.Type != tt {
				continue
			}
			offeredAny = true
			for _, u := range m.Transforms {
				if u.Type == tt {
					oursAny = true
					if u.ID == t.ID && u.KeyLen == t.KeyLen && pick == nil {
						pick = t
					}
				}
			}
		}
		if !offeredAny {
			for _, u := range m.Transforms {
				// We require a type they did not offer (but "none" DH/INTEG is absence).
				if u.Type == tt && !(u.ID == 0 && (tt == TransformDH || tt == TransformINTEG)) {
					return nil, false
				}
			}
			continue
		}
		if pick == nil {
			if !oursAny {
				// They offer a type we do not name: fine only for NONE transforms.
				allNone := true
				for _, t := range o.Transforms {
					if t.Type == tt && t.ID != 0 {
						allNone = false
					}
				}
				if allNone {
					continue
				}
			}
			return nil, false
		}
		c.Transforms = append(c.Transforms, *pick)
	}
	return c, true
}

// ParseProposal reads a proposal in strongSwan's notation (aes128-sha256-modp2048,
// aes256gcm16-prfsha256-ecp256, aes128-sha1 for ESP without PFS); several algorithms of
// one kind may be given. It is used by tests and the load generator to speak the same
// language as the strongSwan peer.
func ParseProposal(s string, proto ProtocolID) (Proposal, error) {
	p := Proposal{Num: 1, Protocol: proto}
	var aead bool
	var integs []uint16
	var prfs []uint16
	for _, tok := range strings.Split(s, "-") {
		switch {
		case tok == "3des":
			p.Transforms = append(p.Transforms, Transform{Type: TransformENCR, ID: EncrDES3})
		case tok == "chacha20poly1305":
			p.Transforms = append(p.Transforms, Transform{Type: TransformENCR, ID: EncrChaCha})
			aead = true
		case tok == "null":
			p.Transforms = append(p.Transforms, Transform{Type: TransformENCR, ID: EncrNull})
		case strings.HasPrefix(tok, "aes"):
			rest := tok[3:]
			id := uint16(EncrAESCBC)
			for _, sv := range []struct {
				suf string
				id  uint16
			}{{"gcm16", EncrAESGCM16}, {"gcm12", EncrAESGCM12}, {"gcm", EncrAESGCM16}, {"ctr", EncrAESCTR}} {
				if strings.HasSuffix(rest, sv.suf) {
					rest, id = strings.TrimSuffix(rest, sv.suf), sv.id
					break
				}
			}
			bits, err := strconv.Atoi(rest)
			if err != nil || (bits != 128 && bits != 192 && bits != 256) {
				return p, fmt.Errorf("unknown algorithm %q", tok)
			}
			p.Transforms = append(p.Transforms, Transform{Type: TransformENCR, ID: id, KeyLen: uint16(bits)})
			aead = aead || id == EncrAESGCM16 || id == EncrAESGCM12
		case strings.HasPrefix(tok, "prf"):
			id, ok := hashByName(prfSpecs, tok[3:])
			if !ok {
				return p, fmt.Errorf("unknown algorithm %q", tok)
			}
			prfs = append(prfs, id)
		case tok == "esn":
			p.Transforms = append(p.Transforms, Transform{Type: TransformESN, ID: 1})
		case tok == "noesn":
			p.Transforms = append(p.Transforms, Transform{Type: TransformESN, ID: 0})
		default:
			if id, ok := DHByName(tok); ok {
				p.Transforms = append(p.Transforms, Transform{Type: TransformDH, ID: id})
				continue
			}
			name := strings.TrimSuffix(tok, "_96")
			if id, ok := hashByName(integSpecs, name); ok {
				integs = append(integs, id)
				continue
			}
			return p, fmt.Errorf("unknown algorithm %q", tok)
		}
	}
	for _, id := range integs {
		if !aead {
			p.Transforms = append(p.Transforms, Transform{Type: TransformINTEG, ID: id})
		}
	}
	if proto == ProtoIKE {
		if len(prfs) == 0 {
			for _, id := range integs {
				prfs = append(prfs, prfForInteg(id))
			}
		}
		if len(prfs) == 0 { // AEAD without a PRF: strongSwan's defaults
			prfs = []uint16{PRFHMACSHA256, PRFHMACSHA384, PRFHMACSHA512, PRFHMACSHA1}
		}
		for _, id := range prfs {
			p.Transforms = append(p.Transforms, Transform{Type: TransformPRF, ID: id})
		}
	}
	if proto == ProtoESP && !slices.ContainsFunc(p.Transforms, func(t Transform) bool { return t.Type == TransformESN }) {
		p.Transforms = append(p.Transforms, Transform{Type: TransformESN, ID: 0})
	}
	return p, nil
}

func hashByName(m map[uint16]*HashSpec, name string) (uint16, bool) {
	for id, h := range m {
		if h.Name == name {
			return id, true
		}
	}
	return 0, false
}

// prfForInteg maps an integrity algorithm to the PRF of the same hash.
func prfForInteg(id uint16) uint16 {
	switch id {
	case IntegMD596:
		return PRFHMACMD5
	case IntegSHA256128:
		return PRFHMACSHA256
	case IntegSHA384192:
		return PRFHMACSHA384
	case IntegSHA512256:
		return PRFHMACSHA512
	}
	return PRFHMACSHA1
}
