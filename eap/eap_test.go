package eap

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC2759Vectors checks the hash-based primitives against RFC 2759 9.2.
func TestRFC2759Vectors(t *testing.T) {
	ac := unhex(t, "5B5D7C7D7B3F2F3E3C2C602132262628")
	pc := unhex(t, "21402324255E262A28295F2B3A337C7E")
	h := NTHash("clientPass")
	if got := hex.EncodeToString(h); got != "44ebba8d5312b8d611474411f56989ae" {
		t.Fatalf("NT hash %s", got)
	}
	nt := NTResponse(ac, pc, "User", h)
	if !bytes.Equal(nt, unhex(t, "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")) {
		t.Fatalf("NT response %X", nt)
	}
	if got := AuthenticatorResponse(ac, pc, nt, "User", h); got != "S=407A5589115FD0D6209F510FE9C04566932CDA56" {
		t.Fatalf("authenticator response %s", got)
	}
}

func converse(t *testing.T, peer *MSCHAPv2Peer, srv *MSCHAPv2Server) error {
	t.Helper()
	req := srv.Start(2)
	for i := 0; i < 5; i++ {
		resp, err := peer.Handle(req)
		if resp == nil {
			return err
		}
		raw, _ := Parse(resp.Marshal())
		next, done := srv.Handle(raw)
		if done {
			_, perr := peer.Handle(next)
			if srv.Err != nil {
				return srv.Err
			}
			return perr
		}
		req = next
	}
	return errors.New("no end")
}

func TestMSCHAPv2RoundTrip(t *testing.T) {
	users := map[string][]byte{"user1": NTHash("password")}
	lookup := func(u string) ([]byte, bool) { h, ok := users[u]; return h, ok }
	peer := &MSCHAPv2Peer{User: "user1", Password: "password"}
	srv := &MSCHAPv2Server{Name: "routerd", Lookup: lookup}
	if err := converse(t, peer, srv); err != nil {
		t.Fatal(err)
	}
	if len(peer.MSK) != 32 || !bytes.Equal(peer.MSK, srv.MSK) {
		t.Fatalf("MSK peer %x server %x", peer.MSK, srv.MSK)
	}
	bad := &MSCHAPv2Peer{User: "user1", Password: "wrong"}
	srv = &MSCHAPv2Server{Name: "routerd", Lookup: lookup}
	if err := converse(t, bad, srv); !errors.Is(err, ErrAuth) || srv.MSK != nil {
		t.Fatalf("wrong password: %v, MSK %x", err, srv.MSK)
	}
	srv = &MSCHAPv2Server{Name: "routerd", Lookup: lookup}
	if err := converse(t, &MSCHAPv2Peer{User: "nobody", Password: "x"}, srv); !errors.Is(err, ErrAuth) {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestParse(t *testing.T) {
	for _, b := range [][]byte{nil, {1, 2, 0}, {1, 2, 0, 4}, {3, 1, 0, 5, 0}, {9, 1, 0, 4}, {2, 1, 0, 200, 1}} {
		if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("% x: %v", b, err)
		}
	}
	p := &Packet{Code: CodeResponse, ID: 7, Type: TypeIdentity, Data: []byte("user1")}
	q, err := Parse(p.Marshal())
	if err != nil || q.Type != TypeIdentity || string(q.Data) != "user1" || q.ID != 7 {
		t.Fatalf("%+v %v", q, err)
	}
}

// FuzzParse: EAP packets come from the network (IKE peers, RADIUS servers).
func FuzzParse(f *testing.F) {
	f.Add((&Packet{Code: CodeRequest, ID: 1, Type: TypeMSCHAPv2, Data: []byte{1, 1, 0, 10, 16}}).Marshal())
	f.Add([]byte{3, 1, 0, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		q, err := Parse(p.Marshal())
		if err != nil || q.Code != p.Code || !bytes.Equal(q.Data, p.Data) {
			t.Fatalf("round trip %+v -> %+v %v", p, q, err)
		}
		// Neither side may panic on any request or response.
		peer := &MSCHAPv2Peer{User: "u", Password: "p"}
		peer.Handle(p)
		srv := &MSCHAPv2Server{Lookup: func(string) ([]byte, bool) { return NTHash("p"), true }}
		srv.Start(p.ID)
		srv.Handle(p)
	})
}
