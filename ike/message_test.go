package ike

import (
	"bytes"
	"errors"
	"math/big"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func sampleMessage() *Message {
	p1, _ := ParseProposal("aes128-sha256-modp2048", ProtoIKE)
	p2, _ := ParseProposal("aes256gcm16-prfsha384-ecp384", ProtoIKE)
	p2.Num = 2
	return &Message{
		Header: Header{SPIi: 0x0102030405060708, Version: Version2, Exchange: IKESAInit, Flags: FlagInitiator},
		Payloads: []Payload{
			&SA{Proposals: []Proposal{p1, p2}},
			&KE{Group: DHModp2048, Data: bytes.Repeat([]byte{7}, 256)},
			&Nonce{Data: bytes.Repeat([]byte{1}, 32)},
			&Notify{NType: NotifyNATDetectionSourceIP, Data: bytes.Repeat([]byte{2}, 20)},
			&Notify{Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, NType: NotifyRekeySA},
			&ID{IDType: IDFQDN, Data: []byte("r.example")},
			&ID{Responder: true, IDType: IDIPv4, Data: []byte{198, 18, 0, 1}},
			&Auth{Method: AuthPSK, Data: bytes.Repeat([]byte{3}, 32)},
			&TS{Selectors: []Selector{SelectorFromPrefix(netip.MustParsePrefix("198.19.0.0/16"), 0, 0),
				SelectorFromPrefix(netip.MustParsePrefix("2001:db8::/32"), 6, 443)}},
			&TS{Responder: true, Selectors: []Selector{SelectorFromPrefix(netip.MustParsePrefix("0.0.0.0/0"), 17, 0)}},
			&Delete{Protocol: ProtoESP, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}},
			&Delete{Protocol: ProtoIKE},
			&Vendor{Data: []byte("routerd")},
			&CP{CfgType: CPRequest, Attrs: []CPAttr{{Type: CPInternalIP4Address}, {Type: CPInternalIP4DNS, Value: []byte{8, 8, 8, 8}}}},
			&Cert{Request: true, Encoding: 4, Data: bytes.Repeat([]byte{9}, 20)},
			&Cert{Encoding: 4, Data: []byte{0x30, 0}},
			&EAP{Data: []byte{1, 2, 0, 4}},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	m := sampleMessage()
	b := m.Encode()
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Payloads, m.Payloads) {
		for i := range m.Payloads {
			if !reflect.DeepEqual(got.Payloads[i], m.Payloads[i]) {
				t.Errorf("payload %d: got %#v want %#v", i, got.Payloads[i], m.Payloads[i])
			}
		}
	}
	if got.Header != m.Header {
		t.Errorf("header %+v want %+v", got.Header, m.Header)
	}
	if !bytes.Equal(got.Encode(), b) {
		t.Error("re-encoding differs")
	}
}

func TestParseRejects(t *testing.T) {
	good := sampleMessage().Encode()
	cases := map[string][]byte{
		"short":          good[:20],
		"length too big": append(append([]byte{}, good[:24]...), 0xff, 0xff, 0xff, 0xff),
	}
	// A payload length pointing past the end.
	bad := append([]byte{}, good...)
	bad[HeaderLen+2], bad[HeaderLen+3] = 0xff, 0xff
	cases["payload length"] = bad
	// A truncated message with a correct header length.
	tr := append([]byte{}, good[:len(good)-3]...)
	tr[24], tr[25], tr[26], tr[27] = byte(len(tr)>>24), byte(len(tr)>>16), byte(len(tr)>>8), byte(len(tr))
	cases["truncated"] = tr
	for name, b := range cases {
		if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
	// Unknown critical payload.
	m := &Message{Header: Header{Version: Version2, Exchange: Informational}, Payloads: []Payload{&Unknown{PType: 200, Data: []byte{1}}}}
	b := m.Encode()
	b[HeaderLen+1] = 0x80
	if _, err := Parse(b); !errors.Is(err, ErrUnsupportedCritical) {
		t.Errorf("critical unknown: %v", err)
	}
	b[HeaderLen+1] = 0
	if got, err := Parse(b); err != nil || got.Payloads[0].(*Unknown).PType != 200 {
		t.Errorf("non-critical unknown: %v", err)
	}
}

func TestSealOpen(t *testing.T) {
	for _, s := range []string{"aes128-sha1", "aes256-sha256", "aes192ctr-sha384", "aes128gcm16", "aes256gcm12",
		"chacha20poly1305", "3des-md5", "aes256-sha512"} {
		p, err := ParseProposal(s+"-modp2048", ProtoIKE)
		if err != nil {
			t.Fatal(err)
		}
		suite, err := SuiteOf(&p)
		if err != nil {
			// several PRFs offered: take the first of each type
			p = firstOfEach(p)
			if suite, err = SuiteOf(&p); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		ek := bytes.Repeat([]byte{1}, suite.EncrKeyLen())
		ik := bytes.Repeat([]byte{2}, suite.IntegKeyLen())
		c, err := NewCipher(suite.Encr, ek, suite.Integ, ik)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		for _, n := range []int{0, 1, 15, 16, 17, 100} {
			pt := bytes.Repeat([]byte{0xab}, n)
			aad := []byte("header-and-payload-header")
			body := c.Seal(append([]byte{}, aad...), pt)[len(aad):]
			if len(body) != c.Overhead(n)+n {
				t.Errorf("%s: %d bytes sealed to %d, Overhead says %d", s, n, len(body), c.Overhead(n)+n)
			}
			got, err := c.Open(aad, body)
			if err != nil || !bytes.Equal(got, pt) {
				t.Errorf("%s/%d: %v %x", s, n, err, got)
			}
			body[len(body)-1] ^= 1
			if _, err := c.Open(aad, body); err == nil {
				t.Errorf("%s/%d: tampered body opened", s, n)
			}
		}
	}
}

func firstOfEach(p Proposal) Proposal {
	seen := map[TransformType]bool{}
	q := Proposal{Num: p.Num, Protocol: p.Protocol}
	for _, t := range p.Transforms {
		if !seen[t.Type] {
			seen[t.Type] = true
			q.Transforms = append(q.Transforms, t)
		}
	}
	return q
}

// TestModpPrimes checks the primes derived from pi against the RFCs: the leading and
// trailing words they print, and that p and (p-1)/2 are prime.
func TestModpPrimes(t *testing.T) {
	for g, par := range modpParams {
		p := modpPrime(g)
		if p.BitLen() != par.bits {
			t.Fatalf("group %d: %d bits", g, p.BitLen())
		}
		h := strings.ToUpper(p.Text(16))
		if !strings.HasPrefix(h, "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1") || !strings.HasSuffix(h, "FFFFFFFFFFFFFFFF") {
			t.Errorf("group %d: %s...%s", g, h[:48], h[len(h)-16:])
		}
		if testing.Short() && par.bits > 2048 {
			continue
		}
		q := new(big.Int).Rsh(p, 1)
		if !p.ProbablyPrime(4) || !q.ProbablyPrime(4) {
			t.Errorf("group %d (%s): not a safe prime", g, DHName(g))
		}
	}
	// RFC 3526's 2048-bit prime ends ...15728E5A 8AACAA68 FFFFFFFF FFFFFFFF.
	if h := strings.ToUpper(modpPrime(DHModp2048).Text(16)); !strings.HasSuffix(h, "15728E5A8AACAA68FFFFFFFFFFFFFFFF") {
		t.Errorf("modp2048 ends %s", h[len(h)-32:])
	}
}

func TestDH(t *testing.T) {
	for g := range dhNames {
		a, err := NewDH(g)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewDH(g)
		s1, err1 := a.Shared(b.Public())
		s2, err2 := b.Shared(a.Public())
		if err1 != nil || err2 != nil || !bytes.Equal(s1, s2) {
			t.Errorf("%s: %v %v", DHName(g), err1, err2)
		}
		if _, err := a.Shared(make([]byte, len(a.Public()))); err == nil {
			t.Errorf("%s: zero public value accepted", DHName(g))
		}
		if _, err := a.Shared([]byte{1}); err == nil {
			t.Errorf("%s: short public value accepted", DHName(g))
		}
	}
}

// TestPRFPlus checks prf+ against its definition and a fixed HMAC-SHA256 vector.
func TestPRFPlus(t *testing.T) {
	h := PRF(PRFHMACSHA256)
	out := h.PRFPlus([]byte("key"), []byte("seed"), 80)
	t1 := h.Sum([]byte("key"), []byte("seed"), []byte{1})
	t2 := h.Sum([]byte("key"), t1, []byte("seed"), []byte{2})
	t3 := h.Sum([]byte("key"), t2, []byte("seed"), []byte{3})
	want := append(append(t1, t2...), t3...)[:80]
	if !bytes.Equal(out, want) {
		t.Fatal("prf+ differs from T1|T2|T3")
	}
}

func TestSelectNarrows(t *testing.T) {
	ours, _ := ParseProposal("aes256-aes128-sha256-sha1-modp2048-ecp256", ProtoIKE)
	theirs, _ := ParseProposal("aes128-sha1-ecp256", ProtoIKE)
	c, ok := Select([]Proposal{theirs}, []Proposal{ours})
	if !ok {
		t.Fatal("no match")
	}
	s, err := SuiteOf(c)
	if err != nil || s.String() != "aes128-sha1-ecp256" {
		t.Fatalf("%v %v", s, err)
	}
	other, _ := ParseProposal("3des-md5-modp1024", ProtoIKE)
	if _, ok := Select([]Proposal{other}, []Proposal{ours}); ok {
		t.Fatal("3des accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sampleMessage().Encode())
	m := &Message{Header: Header{Version: Version2, Exchange: IKEAuth}, Payloads: []Payload{&Fragment{First: PayloadIDi, Num: 1, Total: 2, Body: make([]byte, 40)}}}
	f.Add(m.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := Parse(b)
		if err != nil {
			return
		}
		// What parses re-encodes and parses to the same payloads.
		again, err := Parse(msg.Encode())
		if err != nil {
			t.Fatalf("re-encoded message does not parse: %v", err)
		}
		if len(again.Payloads) != len(msg.Payloads) {
			t.Fatalf("payload count %d -> %d", len(msg.Payloads), len(again.Payloads))
		}
	})
}

// FuzzOpen feeds arbitrary bodies to the decryptor of each cipher family.
func FuzzOpen(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef0123456789abcdef"))
	ciphers := []*Cipher{}
	for _, s := range []string{"aes128-sha1", "aes128gcm16", "aes128ctr-sha256", "chacha20poly1305", "3des-sha1"} {
		p, _ := ParseProposal(s+"-modp2048", ProtoIKE)
		p = firstOfEach(p)
		suite, _ := SuiteOf(&p)
		c, _ := NewCipher(suite.Encr, make([]byte, suite.EncrKeyLen()), suite.Integ, make([]byte, suite.IntegKeyLen()))
		ciphers = append(ciphers, c)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range ciphers {
			c.Open([]byte("aad"), b)
		}
	})
}
