package eap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	"layeh.com/radius/rfc2759"
)

type testPKI struct {
	ca           *x509.Certificate
	server, user tls.Certificate
	pool         *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	leaf := func(cn string, eku x509.ExtKeyUsage, serial int64) tls.Certificate {
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		tm := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{eku}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
		d, err := x509.CreateCertificate(rand.Reader, tm, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := x509.ParseCertificate(d)
		return tls.Certificate{Certificate: [][]byte{d, der}, PrivateKey: k, Leaf: x}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{ca: ca, server: leaf("radius.example", x509.ExtKeyUsageServerAuth, 2),
		user: leaf("user1", x509.ExtKeyUsageClientAuth, 3), pool: pool}
}

// run drives a peer and a server to the end; it returns the server's outcome and the
// peer's error.
func runTLS(t *testing.T, peer *TLSPeer, srv *TLSServer) (error, error) {
	t.Helper()
	idResp, _ := peer.Handle(&Packet{Code: CodeRequest, ID: 1, Type: TypeIdentity})
	if idResp == nil || idResp.Type != TypeIdentity {
		t.Fatalf("identity response %v", idResp)
	}
	req := srv.Start(2)
	for i := 0; i < 100; i++ {
		resp, perr := peer.Handle(req)
		if resp == nil {
			return srv.Err, perr
		}
		raw, err := Parse(resp.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		next, done := srv.Handle(raw)
		if done {
			_, perr := peer.Handle(next)
			return srv.Err, perr
		}
		req = next
	}
	t.Fatal("conversation does not end")
	return nil, nil
}

func TestTLSMethodsRoundTrip(t *testing.T) {
	pki := newTestPKI(t)
	users := map[string][]byte{"user1": NTHash("password")}
	inner := func(method, u string) ([]byte, error) {
		if h, ok := users[u]; ok {
			return h, nil
		}
		return nil, ErrAuth
	}
	verifyServer := func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		c, err := x509.ParseCertificate(rawCerts[0])
		if err != nil {
			return err
		}
		_, err = c.Verify(x509.VerifyOptions{Roots: pki.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		return err
	}
	clientCfg := &tls.Config{InsecureSkipVerify: true, VerifyPeerCertificate: verifyServer}
	srvCfg := &tls.Config{Certificates: []tls.Certificate{pki.server}}
	tlsSrvCfg := srvCfg.Clone()
	tlsSrvCfg.ClientAuth, tlsSrvCfg.ClientCAs = tls.RequireAndVerifyClientCert, pki.pool
	certUser := func(c *x509.Certificate) (string, error) { return c.Subject.CommonName, nil }
	withCert := clientCfg.Clone()
	withCert.Certificates = []tls.Certificate{pki.user}

	for _, tc := range []struct {
		name     string
		peer     *TLSPeer
		srv      *TLSServer
		ok       bool
		innerUse string
	}{
		{"tls", &TLSPeer{Type: TypeTLS, Identity: "user1", Config: withCert}, &TLSServer{Type: TypeTLS, Config: tlsSrvCfg, CertUser: certUser}, true, ""},
		{"tls-no-cert", &TLSPeer{Type: TypeTLS, Identity: "user1", Config: clientCfg}, &TLSServer{Type: TypeTLS, Config: tlsSrvCfg, CertUser: certUser}, false, ""},
		{"ttls-mschapv2", &TLSPeer{Type: TypeTTLS, Identity: "anonymous", User: "user1", Password: "password", Config: clientCfg}, &TLSServer{Type: TypeTTLS, Config: srvCfg, Inner: inner}, true, "ttls-mschap2"},
		{"ttls-eap", &TLSPeer{Type: TypeTTLS, User: "user1", Password: "password", Inner: "eap", Config: clientCfg}, &TLSServer{Type: TypeTTLS, Config: srvCfg, Inner: inner}, true, "ttls-mschap2"},
		{"ttls-eap-wrong", &TLSPeer{Type: TypeTTLS, User: "user1", Password: "wrong", Inner: "eap", Config: clientCfg}, &TLSServer{Type: TypeTTLS, Config: srvCfg, Inner: inner}, false, ""},
		{"ttls-pap", &TLSPeer{Type: TypeTTLS, User: "user1", Password: "password", Inner: "pap", Config: clientCfg}, &TLSServer{Type: TypeTTLS, Config: srvCfg, Inner: inner}, true, "ttls-pap"},
		{"ttls-wrong", &TLSPeer{Type: TypeTTLS, User: "user1", Password: "nope", Config: clientCfg}, &TLSServer{Type: TypeTTLS, Config: srvCfg, Inner: inner}, false, ""},
		{"ttls-pap-wrong", &TLSPeer{Type: TypeTTLS, User: "user1", Password: "nope", Inner: "pap", Config: clientCfg}, &TLSServer{Type: TypeTTLS, Config: srvCfg, Inner: inner}, false, ""},
		{"peap", &TLSPeer{Type: TypePEAP, Identity: "anonymous", User: "user1", Password: "password", Config: clientCfg}, &TLSServer{Type: TypePEAP, Config: srvCfg, Inner: inner}, true, "peap-mschap2"},
		{"peap-wrong", &TLSPeer{Type: TypePEAP, User: "user1", Password: "nope", Config: clientCfg}, &TLSServer{Type: TypePEAP, Config: srvCfg, Inner: inner}, false, ""},
		// A panic in the server's program (a bug; here in its callbacks) fails that
		// authentication only.
		{"tls-panic", &TLSPeer{Type: TypeTLS, Identity: "user1", Config: withCert}, &TLSServer{Type: TypeTLS, Config: tlsSrvCfg,
			CertUser: func(*x509.Certificate) (string, error) { panic("injected") }}, false, ""},
		{"ttls-panic", &TLSPeer{Type: TypeTTLS, User: "user1", Password: "password", Config: clientCfg}, &TLSServer{Type: TypeTTLS, Config: srvCfg,
			Inner: func(string, string) ([]byte, error) { panic("injected") }}, false, ""},
		{"peap-untrusted-server", &TLSPeer{Type: TypePEAP, User: "user1", Password: "password", Config: &tls.Config{InsecureSkipVerify: true,
			VerifyPeerCertificate: func([][]byte, [][]*x509.Certificate) error { return errors.New("untrusted") }}}, &TLSServer{Type: TypePEAP, Config: srvCfg, Inner: inner}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serr, perr := runTLS(t, tc.peer, tc.srv)
			if tc.ok {
				if serr != nil || perr != nil {
					t.Fatalf("server %v, peer %v", serr, perr)
				}
				if len(tc.peer.MSK) != 64 || string(tc.peer.MSK) != string(tc.srv.MSK) {
					t.Fatalf("MSK peer %x server %x", tc.peer.MSK, tc.srv.MSK)
				}
				if tc.srv.User != "user1" || tc.srv.Method != tc.innerUse {
					t.Fatalf("user %q method %q", tc.srv.User, tc.srv.Method)
				}
				return
			}
			if serr == nil || perr == nil || tc.srv.MSK != nil || tc.peer.MSK != nil {
				t.Fatalf("expected failure: server %v, peer %v", serr, perr)
			}
			if strings.HasSuffix(tc.name, "-panic") && (!errors.Is(serr, ErrInternal) || !strings.Contains(serr.Error(), "injected")) {
				t.Fatalf("server %v, want the internal error", serr)
			}
			t.Logf("server: %v; peer: %v", serr, perr)
		})
	}
}

// FuzzTLSMethods: the TLS-based methods' framing, AVPs and TLVs come from the network.
func FuzzTLSMethods(f *testing.F) {
	f.Add([]byte{0x80, 0, 0, 0, 10, 22, 3, 1}, byte(TypeTTLS))
	f.Add([]byte{0x40, 1, 2, 3}, byte(TypePEAP))
	f.Add(appendAVP(nil, vendorMicrosoft, avpMSCHAP2Resp, make([]byte, 50)), byte(TypeTLS))
	f.Fuzz(func(t *testing.T, d []byte, typ byte) {
		parseAVPs(d)
		parseResult(d)
		var fr framer
		fr.take(d)
		srv := &TLSServer{Type: TypeTTLS}
		srv.Start(1)
		srv.Handle(&Packet{Code: CodeResponse, ID: 1, Type: Type(typ), Data: d})
		srv.Close()
		peer := &TLSPeer{Type: TypePEAP, User: "u", Password: "p"}
		peer.Handle(&Packet{Code: CodeRequest, ID: 1, Type: Type(typ), Data: d})
		peer.Close()
	})
}

// TestPeerNak: a Peer Naks what it was not given and runs what it was.
func TestPeerNak(t *testing.T) {
	users := map[string][]byte{"user1": NTHash("password")}
	peer := &Peer{Methods: []Type{TypeMSCHAPv2}, User: "user1", Password: "password"}
	resp, err := peer.Handle(&Packet{Code: CodeRequest, ID: 3, Type: TypePEAP, Data: []byte{flagS}})
	if err != nil || resp.Type != TypeNak || len(resp.Data) != 1 || resp.Data[0] != byte(TypeMSCHAPv2) {
		t.Fatalf("%v %v", resp, err)
	}
	srv := &MSCHAPv2Server{Name: "r", Lookup: func(u string) ([]byte, bool) { h, ok := users[u]; return h, ok }}
	req := srv.Start(4)
	for {
		resp, err := peer.Handle(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := Parse(resp.Marshal())
		next, done := srv.Handle(raw)
		if done {
			if _, err := peer.Handle(next); err != nil || len(peer.MSK) != 32 {
				t.Fatalf("%v %x", err, peer.MSK)
			}
			return
		}
		req = next
	}
}

// innerTunnel is the tunnel as ttlsInner sees it: the peer's messages in turn, what the
// server writes discarded.
type innerTunnel struct{ msgs [][]byte }

func (t *innerTunnel) Read(b []byte) (int, error) {
	if len(t.msgs) == 0 {
		return 0, io.EOF
	}
	n := copy(b, t.msgs[0])
	t.msgs = t.msgs[1:]
	return n, nil
}

func (t *innerTunnel) Write(b []byte) (int, error) { return len(b), nil }

var testChallenge = []byte("0123456789abcdefg")

func innerServer() *TLSServer {
	return &TLSServer{Type: TypeTTLS,
		Inner:         func(method, user string) ([]byte, error) { return NTHash("password"), nil },
		InnerPassword: func(method, user string) (string, error) { return "password", nil }}
}

func runInner(s *TLSServer, msgs ...[]byte) error {
	return s.ttlsInner(&innerTunnel{msgs: msgs}, func(n int) ([]byte, error) { return testChallenge[:n], nil })
}

// TestTTLSCHAPAndMSCHAP: CHAP (RFC 5281 11.2.2) and MS-CHAP (11.2.3) inside EAP-TTLS
// are accepted with the right password over the tunnel's challenge and identifier, and
// refused with a wrong password, another challenge or identifier, or the LM response.
func TestTTLSCHAPAndMSCHAP(t *testing.T) {
	chap := func(pw string, id byte, ch []byte) []byte {
		h := md5.Sum(append(append([]byte{id}, pw...), ch...))
		b := appendAVP(nil, 0, avpUserName, []byte("user1"))
		b = appendAVP(b, 0, avpCHAPChallenge, ch)
		return appendAVP(b, 0, avpCHAPPassword, append([]byte{id}, h[:]...))
	}
	mschap := func(pw string, id, flags byte, ch []byte) []byte {
		resp := append([]byte{id, flags}, make([]byte, 24)...)
		resp = append(resp, rfc2759.ChallengeResponse(ch, NTHash(pw))...)
		b := appendAVP(nil, 0, avpUserName, []byte("user1"))
		b = appendAVP(b, vendorMicrosoft, avpMSCHAPChal, ch)
		return appendAVP(b, vendorMicrosoft, avpMSCHAPResp, resp)
	}
	other := []byte("ffffffffffffffff")
	for _, tc := range []struct {
		name, method string
		msg          []byte
		ok           bool
	}{
		{"chap", "ttls-chap", chap("password", testChallenge[16], testChallenge[:16]), true},
		{"chap-wrong", "ttls-chap", chap("wrong", testChallenge[16], testChallenge[:16]), false},
		{"chap-other-challenge", "ttls-chap", chap("password", testChallenge[16], other), false},
		{"chap-other-id", "ttls-chap", chap("password", 1, testChallenge[:16]), false},
		{"mschap", "ttls-mschap1", mschap("password", testChallenge[8], 1, testChallenge[:8]), true},
		{"mschap-wrong", "ttls-mschap1", mschap("wrong", testChallenge[8], 1, testChallenge[:8]), false},
		{"mschap-other-challenge", "ttls-mschap1", mschap("password", testChallenge[8], 1, other[:8]), false},
		{"mschap-other-id", "ttls-mschap1", mschap("password", 7, 1, testChallenge[:8]), false},
		{"mschap-lm", "ttls-mschap1", mschap("password", testChallenge[8], 0, testChallenge[:8]), false},
	} {
		s := innerServer()
		err := runInner(s, tc.msg)
		if (err == nil) != tc.ok || s.Method != tc.method || s.User != "user1" {
			t.Errorf("%s: err %v, method %q, user %q", tc.name, err, s.Method, s.User)
		}
		if err != nil && !errors.Is(err, ErrAuth) {
			t.Errorf("%s: %v is not ErrAuth", tc.name, err)
		}
	}
	s := innerServer()
	s.InnerPassword = nil
	if err := runInner(s, chap("password", testChallenge[16], testChallenge[:16])); err == nil {
		t.Error("CHAP accepted without the password")
	}
}

// FuzzTTLSInner: whatever the peer sends inside the EAP-TTLS tunnel (its first message
// and an answer), the server's inner methods refuse or accept without panicking.
func FuzzTTLSInner(f *testing.F) {
	f.Add(appendAVP(appendAVP(nil, 0, avpUserName, []byte("u")), 0, avpCHAPPassword, make([]byte, 17)), []byte{})
	f.Add(appendAVP(appendAVP(nil, 0, avpUserName, []byte("u")), vendorMicrosoft, avpMSCHAPResp, make([]byte, 50)), []byte{})
	f.Add(appendAVP(nil, 0, avpEAPMessage, (&Packet{Code: CodeResponse, ID: 1, Type: TypeIdentity, Data: []byte("u")}).Marshal()),
		appendAVP(nil, 0, avpEAPMessage, []byte{2, 2, 0, 6, 3, 26}))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		runInner(innerServer(), first, second)
	})
}
