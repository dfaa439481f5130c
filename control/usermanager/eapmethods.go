package usermanager

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/routerd/routerd/control/certificate"
	"github.com/routerd/routerd/eap"
	rad "github.com/routerd/routerd/radius"
)

// EAP over RADIUS (RFC 3579) with the methods of outer-auths: eap-mschap2, and the
// TLS-based eap-tls, eap-ttls (inner ttls-pap, ttls-chap, ttls-mschap1, ttls-mschap2) and eap-peap (inner
// peap-mschap2) with settings' certificate= as the server certificate.
//
// Which user a conversation is for: the outer EAP identity when it names a user (its
// group's outer-auths say which methods it may start); otherwise the outer identity is
// anonymous and group default-anonymous's outer-auths apply. EAP-TLS then authenticates
// the user the client certificate is for (its common name, else an e-mail or DNS
// subject-alt-name, naming a user; the chain must verify against /certificate's trusted
// authorities with tls-client usage, and the user's group must allow eap-tls); EAP-TTLS
// and EAP-PEAP the inner identity, whose group's inner-auths must allow the inner method.

// eapServer is one method's authenticator side.
type eapServer interface {
	Handle(p *eap.Packet) (next *eap.Packet, done bool)
}

// methodOrder is the order methods are offered in when the outer identity allows
// several: EAP-MSCHAPv2 first (one round trip; peers wanting another Nak), then the
// tunnelled methods.
var methodOrder = []eap.Type{eap.TypeMSCHAPv2, eap.TypePEAP, eap.TypeTTLS, eap.TypeTLS}

// newMethod starts the authenticator of method t.
func (e *Engine) newMethod(t eap.Type, cfg *config) (eapServer, error) {
	lookup := func(n string) ([]byte, bool) {
		u := e.cfg.Load().users[n]
		if u == nil || u.nt == nil {
			return nil, false
		}
		return u.nt, true
	}
	if t == eap.TypeMSCHAPv2 {
		return &eap.MSCHAPv2Server{Name: "routerd", Lookup: lookup}, nil
	}
	tc, err := e.serverTLS(cfg, t == eap.TypeTLS)
	if err != nil {
		return nil, err
	}
	s := &eap.TLSServer{Type: t, Config: tc, Name: "routerd"}
	innerUser := func(method, name string) (*user, error) {
		u := e.cfg.Load().users[name]
		switch {
		case u == nil:
			return nil, fmt.Errorf("%w: no such user %q (inner identity)", eap.ErrAuth, name)
		case !slices.Contains(u.inner, method):
			return nil, fmt.Errorf("%w: method %s not in the inner-auths of group %s", eap.ErrAuth, method, u.Group)
		case u.nt == nil:
			return nil, fmt.Errorf("%w: user %q has no password", eap.ErrAuth, name)
		}
		return u, nil
	}
	s.Inner = func(method, name string) ([]byte, error) {
		u, err := innerUser(method, name)
		if err != nil {
			return nil, err
		}
		return u.nt, nil
	}
	s.InnerPassword = func(method, name string) (string, error) {
		u, err := innerUser(method, name)
		if err != nil {
			return "", err
		}
		if u.Password == "" {
			return "", fmt.Errorf("%w: %s needs the password, and user %q has only the NT hash of an older store: set password= again", eap.ErrAuth, method, name)
		}
		return u.Password, nil
	}
	s.CertUser = func(leaf *x509.Certificate) (string, error) {
		users := e.cfg.Load().users
		names := append([]string{leaf.Subject.CommonName}, leaf.EmailAddresses...)
		names = append(names, leaf.DNSNames...)
		for _, n := range names {
			if u := users[n]; u != nil {
				return n, nil
			}
		}
		return "", fmt.Errorf("%w: no user named as the client certificate %q", eap.ErrAuth, leaf.Subject.CommonName)
	}
	return s, nil
}

// serverTLS is the TLS configuration from settings' certificate=; with clientAuth
// (EAP-TLS) the client's chain is verified against /certificate.
func (e *Engine) serverTLS(cfg *config, clientAuth bool) (*tls.Config, error) {
	if e.certs == nil || cfg.cert == "" || cfg.cert == "none" {
		return nil, errors.New("no certificate= in /user-manager settings for the TLS-based EAP methods")
	}
	c, ok := e.certs.Get(cfg.cert)
	if !ok || c.Key == nil {
		return nil, fmt.Errorf("certificate %q not found or without private key", cfg.cert)
	}
	tc := &tls.Config{}
	tc.Certificates = []tls.Certificate{{PrivateKey: c.Key, Leaf: c.X509}}
	for _, x := range e.certs.Chain(c) {
		tc.Certificates[0].Certificate = append(tc.Certificates[0].Certificate, x.Raw)
	}
	if clientAuth {
		tc.ClientAuth = tls.RequireAnyClientCert
		store := e.certs
		tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			var chain []*x509.Certificate
			for _, r := range raw {
				x, err := x509.ParseCertificate(r)
				if err != nil {
					return fmt.Errorf("client certificate: %w", err)
				}
				chain = append(chain, x)
			}
			if _, err := store.Verify(chain, certificate.PurposeClient); err != nil {
				return fmt.Errorf("client certificate %q: %w", chain[0].Subject.CommonName, err)
			}
			return nil
		}
	}
	return tc, nil
}

// pick is the first method of want (in order) that allowed lists.
func pick(want []eap.Type, allowed []string) (eap.Type, bool) {
	for _, t := range want {
		if slices.Contains(allowed, eap.MethodName(t)) {
			return t, true
		}
	}
	return 0, false
}

// eap runs one step of an EAP conversation.
func (e *Engine) eap(q *rad.Request, cfg *config, msg []byte) *radius.Packet {
	method := "eap"
	name := rfc2865.UserName_GetString(q.Packet)
	p, err := eap.Parse(msg)
	if err != nil {
		return e.reject(q, method, name, err.Error())
	}
	challenge := func(c *conv, out *eap.Packet) *radius.Packet {
		var b [16]byte
		rand.Read(b[:])
		st := hex.EncodeToString(b[:])
		e.mu.Lock()
		now := time.Now()
		for k, o := range e.convs {
			if now.After(o.expires) {
				delete(e.convs, k)
				closeConv(o)
			}
		}
		if len(e.convs) >= 4096 {
			e.mu.Unlock()
			closeConv(c)
			return e.reject(q, c.method, name, "too many EAP conversations in progress")
		}
		c.expires = now.Add(convTTL)
		e.convs[st] = c
		e.mu.Unlock()
		e.count(c.method, 2)
		r := q.Response(radius.CodeAccessChallenge)
		rad.SetEAPMessage(r, out.Marshal())
		rfc2865.State_Set(r, []byte(st))
		rfc2865.SessionTimeout_Set(r, 30)
		return r
	}
	final := func(out *eap.Packet) *radius.Packet {
		r := q.Response(radius.CodeAccessReject)
		rad.SetEAPMessage(r, out.Marshal())
		return r
	}
	failure := &eap.Packet{Code: eap.CodeFailure, ID: p.ID}
	state := string(rfc2865.State_Get(q.Packet))
	if state == "" {
		if p.Code != eap.CodeResponse || p.Type != eap.TypeIdentity {
			e.reject(q, method, name, "EAP conversation does not start with an identity")
			return final(failure)
		}
		id := string(p.Data)
		allowed := cfg.anonOuter
		if u := cfg.users[id]; u != nil {
			if why := e.check(q, u, ""); why != "" {
				e.reject(q, method, id, why)
				return final(failure)
			}
			allowed = u.outer
		}
		t, ok := pick(methodOrder, allowed)
		if !ok {
			why := "no EAP method in the outer-auths of the user's group"
			if cfg.users[id] == nil {
				why = "no such user (and group default-anonymous allows no EAP method)"
			}
			e.reject(q, method, id, why)
			return final(failure)
		}
		c := &conv{method: eap.MethodName(t), allowed: allowed}
		if c.srv, err = e.newMethod(t, cfg); err != nil {
			e.reject(q, c.method, id, err.Error())
			return final(failure)
		}
		return challenge(c, start(c.srv, p.ID+1))
	}
	e.mu.Lock()
	c := e.convs[state]
	delete(e.convs, state)
	e.mu.Unlock()
	if c == nil {
		e.reject(q, method, name, "unknown or expired EAP State")
		return final(failure)
	}
	if p.Code == eap.CodeResponse && p.Type == eap.TypeNak && !c.started {
		// The peer wants another method (RFC 3748 5.3.1): the first it lists that the
		// identity may use.
		var want []eap.Type
		for _, b := range p.Data {
			want = append(want, eap.Type(b))
		}
		closeConv(c)
		t, ok := pick(want, c.allowed)
		if !ok {
			e.reject(q, c.method, name, fmt.Sprintf("the peer wants EAP types %v; outer-auths allow %v", p.Data, c.allowed))
			return final(failure)
		}
		c = &conv{method: eap.MethodName(t), allowed: c.allowed}
		if c.srv, err = e.newMethod(t, cfg); err != nil {
			e.reject(q, c.method, name, err.Error())
			return final(failure)
		}
		return challenge(c, start(c.srv, p.ID+1))
	}
	c.started = true
	out, done := c.srv.Handle(p)
	user, merr := outcome(c.srv)
	if !done {
		if merr != nil && !c.logged {
			// The failure request goes out now; the client's acknowledgement ends it.
			c.logged = true
			e.reject(q, c.method, user, merr.Error())
		}
		return challenge(c, out)
	}
	if merr != nil {
		if !c.logged {
			e.reject(q, c.method, user, merr.Error())
		}
		return final(out)
	}
	u := e.cfg.Load().users[user]
	check := c.method
	if c.method == "eap-ttls" || c.method == "eap-peap" {
		check = "" // the inner method was checked against inner-auths
	}
	if why := e.check(q, u, check); why != "" {
		e.reject(q, c.method, user, why)
		return final(&eap.Packet{Code: eap.CodeFailure, ID: p.ID})
	}
	r := e.accept(q, c.method, u)
	rad.SetEAPMessage(r, out.Marshal())
	send, recv := keys(c.srv)
	rad.SetMPPEKeys(r, recv, send)
	rfc2865.UserName_SetString(r, user)
	return r
}

func start(s eapServer, id uint8) *eap.Packet {
	switch s := s.(type) {
	case *eap.MSCHAPv2Server:
		return s.Start(id)
	case *eap.TLSServer:
		return s.Start(id)
	}
	panic("unknown EAP method")
}

// outcome is the conversation's user and failure so far.
func outcome(s eapServer) (string, error) {
	switch s := s.(type) {
	case *eap.MSCHAPv2Server:
		return s.User, s.Err
	case *eap.TLSServer:
		if s.Err != nil && s.Method != "" {
			// Say which inner method failed (the count stays the outer method's).
			return s.User, fmt.Errorf("%s: %w", s.Method, s.Err)
		}
		return s.User, s.Err
	}
	return "", nil
}

func keys(s eapServer) (send, recv []byte) {
	switch s := s.(type) {
	case *eap.MSCHAPv2Server:
		return s.SendKey, s.RecvKey
	case *eap.TLSServer:
		return s.SendKey, s.RecvKey
	}
	return nil, nil
}

// closeConv ends a conversation's TLS program.
func closeConv(c *conv) {
	if s, ok := c.srv.(*eap.TLSServer); ok {
		s.Close()
	}
}
