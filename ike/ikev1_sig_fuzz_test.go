package ike

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

type refuseAll struct{}

func (refuseAll) VerifyPeer([]*x509.Certificate, bool) error { return errors.New("not trusted") }
func (refuseAll) Anchors() []*x509.Certificate               { return nil }

// FuzzV1CheckAuth feeds arbitrary payloads (CERT, SIG, HASH, ID) to the check of the
// peer's Phase 1 proof under each signature method, as the initiator and as the
// responder: nothing panics and nothing made of fuzz bytes authenticates.
func FuzzV1CheckAuth(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	sig := make([]byte, 128)
	f.Add(append([]byte{v1PCert, 0, 0, 8, 4, 0x30, 0x82, 1}, append([]byte{0, 0, 0, 132}, sig...)...), uint8(0))
	f.Add(append([]byte{0, 0, 0, 132}, sig...), uint8(1))
	f.Add(append([]byte{0, 0, 0, 68}, sig[:64]...), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		ps, err := parseV1Payloads(b, 0, v1PSig)
		if err != nil {
			ps, err = parseV1Payloads(b, 0, v1PCert)
			if err != nil {
				return
			}
		}
		ic := &IdentityConfig{Method: AuthMethodSignature, Verifier: refuseAll{}, RemoteID: IDSpec{Auto: true}}
		auth := uint16(v1AuthRSASig)
		switch which % 4 {
		case 1:
			ic = &IdentityConfig{Method: AuthMethodRSAKey, RemoteKey: &key.PublicKey}
		case 2:
			auth = v1AuthHybridInitRSA
		case 3:
			// ECDSA (RFC 4754 method 9) with a known key: fuzz bytes as r | s.
			ic = &IdentityConfig{Method: AuthMethodRSAKey, RemoteKey: &ek.PublicKey}
			auth = v1AuthECDSA256
		}
		s := v1P1{encr: Encr(EncrAESCBC), keyBits: 128, hash: PRF(PRFHMACSHA1), group: DHModp1024, auth: auth, life: time.Hour}
		keys, err := deriveV1(s, nil, []byte("ni"), []byte("nr"), []byte("gxy"), 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		for _, initiator := range []bool{true, false} {
			sa := &IKESA{d: d, peer: &PeerConfig{Name: "f"}, ident: ic, initiator: initiator, spiI: 1, spiR: 2,
				v1: &v1State{p1: s, keys: keys, gxi: []byte("gi"), gxr: []byte("gr"), saiB: []byte("sa"), idiB: []byte("i"), idrB: []byte("r")}}
			if err := sa.v1CheckAuth(ps, Identity{Type: IDFQDN, Data: []byte("peer")}); err == nil && findV1(ps, v1PSig) != nil {
				t.Fatalf("a fuzzed signature verified (method %d, initiator %v)", auth, initiator)
			}
		}
	})
}
