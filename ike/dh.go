package ike

import (
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"math/big"
	"sync"
)

// DH group transform IDs.
const (
	DHModp768    = 1
	DHModp1024   = 2
	DHModp1536   = 5
	DHModp2048   = 14
	DHModp3072   = 15
	DHModp4096   = 16
	DHModp6144   = 17
	DHModp8192   = 18
	DHECP256     = 19
	DHECP384     = 20
	DHECP521     = 21
	DHCurve25519 = 31
)

// DH is one side of a Diffie-Hellman exchange.
type DH interface {
	Group() uint16
	Public() []byte
	// Shared returns g^ir from the peer's public value; an invalid value is an error.
	Shared(peer []byte) ([]byte, error)
}

// modp groups: bits and the k of RFC 2412 / RFC 3526, p = 2^N - 2^(N-64) - 1 +
// 2^64 * (floor(2^(N-130) * pi) + k). Deriving the primes from pi avoids transcribing
// pages of hex; TestModpPrimes checks each is a safe prime with the RFCs' leading and
// trailing words.
var modpParams = map[uint16]struct {
	bits int
	k    int64
	exp  int // private exponent bits (twice the group's symmetric strength, rounded up)
}{
	DHModp768:  {768, 149686, 256},
	DHModp1024: {1024, 129093, 256},
	DHModp1536: {1536, 741804, 256},
	DHModp2048: {2048, 124476, 256},
	DHModp3072: {3072, 1690314, 256},
	DHModp4096: {4096, 240904, 320},
	DHModp6144: {6144, 929484, 384},
	DHModp8192: {8192, 4743158, 512},
}

var (
	modpMu     sync.Mutex
	modpPrimes = map[uint16]*big.Int{}
)

// modpPrime returns the prime of a MODP group, computed once.
func modpPrime(g uint16) *big.Int {
	modpMu.Lock()
	defer modpMu.Unlock()
	if p, ok := modpPrimes[g]; ok {
		return p
	}
	par := modpParams[g]
	n := par.bits
	// floor(2^(n-130) * pi) from pi computed with Machin's formula in fixed point.
	prec := uint(n + 64)
	pi := machinPi(prec)                        // pi * 2^prec
	f := new(big.Int).Rsh(pi, prec-uint(n-130)) // floor(pi * 2^(n-130))
	f.Add(f, big.NewInt(par.k))
	p := new(big.Int).Lsh(f, 64)
	one := big.NewInt(1)
	p.Add(p, new(big.Int).Lsh(one, uint(n)))
	p.Sub(p, new(big.Int).Lsh(one, uint(n-64)))
	p.Sub(p, one)
	modpPrimes[g] = p
	return p
}

// machinPi returns floor(pi * 2^prec) (to within a few units in the last place, which
// the shift in modpPrime discards): pi = 16 atan(1/5) - 4 atan(1/239).
func machinPi(prec uint) *big.Int {
	guard := uint(32)
	one := new(big.Int).Lsh(big.NewInt(1), prec+guard)
	atan := func(x int64) *big.Int {
		sum := new(big.Int)
		term := new(big.Int).Div(one, big.NewInt(x))
		x2 := big.NewInt(x * x)
		for k := int64(0); term.Sign() != 0; k++ {
			t := new(big.Int).Div(term, big.NewInt(2*k+1))
			if k%2 == 0 {
				sum.Add(sum, t)
			} else {
				sum.Sub(sum, t)
			}
			term.Div(term, x2)
		}
		return sum
	}
	pi := new(big.Int).Mul(atan(5), big.NewInt(16))
	pi.Sub(pi, new(big.Int).Mul(atan(239), big.NewInt(4)))
	return pi.Rsh(pi, guard)
}

type modpDH struct {
	group uint16
	p     *big.Int
	x     *big.Int
	pub   []byte
}

func (d *modpDH) Group() uint16  { return d.group }
func (d *modpDH) Public() []byte { return d.pub }

func (d *modpDH) Shared(peer []byte) ([]byte, error) {
	size := (d.p.BitLen() + 7) / 8
	if len(peer) != size {
		return nil, fmt.Errorf("%w: DH public value of %d bytes, want %d", ErrMalformed, len(peer), size)
	}
	y := new(big.Int).SetBytes(peer)
	pm1 := new(big.Int).Sub(d.p, big.NewInt(1))
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pm1) >= 0 {
		return nil, fmt.Errorf("%w: DH public value out of range", ErrMalformed)
	}
	return new(big.Int).Exp(y, d.x, d.p).FillBytes(make([]byte, size)), nil
}

type ecDH struct {
	group uint16
	priv  *ecdh.PrivateKey
	curve ecdh.Curve
	pub   []byte
}

func (d *ecDH) Group() uint16  { return d.group }
func (d *ecDH) Public() []byte { return d.pub }

func (d *ecDH) Shared(peer []byte) ([]byte, error) {
	b := peer
	if d.group != DHCurve25519 {
		// RFC 5903: x | y without the uncompressed-point prefix.
		b = append([]byte{4}, peer...)
	}
	pk, err := d.curve.NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: DH public value: %v", ErrMalformed, err)
	}
	s, err := d.priv.ECDH(pk)
	if err != nil {
		return nil, fmt.Errorf("%w: DH: %v", ErrMalformed, err)
	}
	return s, nil
}

// DHSupported reports whether a group is available in this build.
func DHSupported(g uint16) bool {
	if _, ok := modpParams[g]; ok {
		return true
	}
	switch g {
	case DHECP256, DHECP384, DHECP521, DHCurve25519:
		return true
	}
	return false
}

// NewDH generates a key pair in a group.
func NewDH(g uint16) (DH, error) {
	if par, ok := modpParams[g]; ok {
		p := modpPrime(g)
		xb := make([]byte, par.exp/8)
		rand.Read(xb)
		x := new(big.Int).SetBytes(xb)
		x.SetBit(x, par.exp-1, 1)
		pub := new(big.Int).Exp(big.NewInt(2), x, p)
		return &modpDH{group: g, p: p, x: x, pub: pub.FillBytes(make([]byte, par.bits/8))}, nil
	}
	var c ecdh.Curve
	switch g {
	case DHECP256:
		c = ecdh.P256()
	case DHECP384:
		c = ecdh.P384()
	case DHECP521:
		c = ecdh.P521()
	case DHCurve25519:
		c = ecdh.X25519()
	default:
		return nil, fmt.Errorf("DH group %d: %w", g, ErrNotSupported)
	}
	k, err := c.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	pub := k.PublicKey().Bytes()
	if g != DHCurve25519 {
		pub = pub[1:]
	}
	return &ecDH{group: g, priv: k, curve: c, pub: pub}, nil
}
