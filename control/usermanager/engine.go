package usermanager

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"layeh.com/radius"
	"layeh.com/radius/rfc2759"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/vendors/microsoft"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/certificate"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/eap"
	rad "github.com/routerd/routerd/radius"
)

// Menu paths of User Manager.
const (
	Path        = menu.UserManagerPath
	RouterPath  = menu.UserManagerRouterPath
	UserPath    = menu.UserManagerUserPath
	GroupPath   = menu.UserManagerGroupPath
	SessionPath = menu.UserManagerSessionPath
	MonitorPath = menu.UserManagerMonitorPath
)

// Options say where User Manager listens.
type Options struct {
	// Host is the address to listen on; empty: every address.
	Host string
	// Listen opens UDP sockets (default net.ListenUDP).
	Listen func(*net.UDPAddr) (*net.UDPConn, error)
	// Workers is the number of readers per socket (default 2).
	Workers int
}

type settingsItem struct {
	AcctPort  uint16 `prop:"accounting-port"`
	AuthPort  uint16 `prop:"authentication-port"`
	Cert      string `prop:"certificate"`
	Enabled   bool   `prop:"enabled"`
	RequireMA string `prop:"require-message-auth"`
}

type routerItem struct {
	Name     string     `prop:"name"`
	Address  netip.Addr `prop:"address"`
	Disabled bool       `prop:"disabled"`
	Secret   string     `prop:"shared-secret"`
}

type userItem struct {
	Name     string   `prop:"name"`
	Attrs    []string `prop:"attributes"`
	CallerID string   `prop:"caller-id"`
	Disabled bool     `prop:"disabled"`
	Group    string   `prop:"group"`
	Hash     string   `prop:"password-hash"`
	Password string   `prop:"password"`
	Shared   int      `prop:"shared-users"`
}

type groupItem struct {
	Name  string   `prop:"name"`
	Attrs []string `prop:"attributes"`
	Inner []string `prop:"inner-auths"`
	Outer []string `prop:"outer-auths"`
}

// user is a user ready for the request path.
type user struct {
	userItem
	nt    []byte
	outer []string
	inner []string
	attrs []attr
}

// config is what the request path reads, swapped whole after a pass.
type config struct {
	routers map[netip.Addr]routerItem
	users   map[string]*user
	// cert is settings' certificate= (the TLS-based EAP methods' server certificate);
	// anonOuter the outer-auths of group default-anonymous, for outer identities that
	// are not users (EAP-TTLS and EAP-PEAP hide the user inside the tunnel).
	cert      string
	anonOuter []string
}

// Engine runs User Manager.
type Engine struct {
	opts Options
	ex   *control.Executor
	h    *engine.Handle
	life context.Context
	resp *rad.Responder
	cfg  atomic.Pointer[config]
	// certs is /certificate: the server certificate of the TLS-based EAP methods and the
	// authorities EAP-TLS client certificates must chain to.
	certs *certificate.Store

	// pass serialises passes: the host runs one at a time, and the tests that run a
	// pass right after their commands (rig.run) run it beside the host's.
	pass sync.Mutex

	mu        sync.Mutex
	listening settingsItem
	cancel    context.CancelFunc
	conns     []*net.UDPConn
	wg        *sync.WaitGroup
	convs     map[string]*conv
	sessions  []*session
	counts    map[string]*[3]int64 // method: accepts, rejects, challenges
}

// conv is one EAP conversation, found again by its State attribute.
type conv struct {
	srv     eapServer
	method  string   // outer-auths name of the running method
	allowed []string // the outer methods the outer identity may use
	started bool     // the peer answered the method (a Nak is too late then)
	expires time.Time
	logged  bool // the failure is logged and counted
}

// session is one accounting session (or an authentication waiting for it).
type session struct {
	user, nas, nasAddr, port, caller, addr, acctID, status string
	cause                                                  string // Acct-Terminate-Cause of the stop
	started, ended, lastAcct                               time.Time
	uptime                                                 time.Duration
	in, out                                                uint64
}

// New returns the User Manager engine.
func New(opts Options) *Engine {
	if opts.Listen == nil {
		opts.Listen = func(a *net.UDPAddr) (*net.UDPConn, error) { return net.ListenUDP("udp", a) }
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	e := &Engine{opts: opts, convs: map[string]*conv{}, counts: map[string]*[3]int64{}}
	e.cfg.Store(&config{})
	return e
}

// Spec declares the menus.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "user-manager", Menus: []string{Path, RouterPath, UserPath, GroupPath}}
}

// TypedItems names the structs the menus decode into.
func (e *Engine) TypedItems() map[string]any {
	return map[string]any{Path: settingsItem{}, RouterPath: routerItem{}, UserPath: userItem{}, GroupPath: groupItem{}}
}

// Start installs the password hashing, the status menus and the responder.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	e.ex, e.h, e.life = h.Ex, h, ctx
	e.certs, _ = engine.Lookup[*certificate.Store](h)
	for _, cmd := range []string{"add", "set"} {
		gen, spec, ok := h.Ex.Generic(UserPath, cmd)
		if !ok {
			return fmt.Errorf("no generic %s for %s", cmd, UserPath)
		}
		h.Ex.Handle(UserPath, cmd, spec, passwords(gen, cmd == "set"))
	}
	h.Ex.Provide(SessionPath, e.sessionRows)
	h.Ex.Provide(MonitorPath, e.monitorRows)
	e.resp = &rad.Responder{Secret: e.secret, Auth: e.auth, Acct: e.acct, Log: logger()}
	// Every dropped datagram is counted here; the log shows only some (rate limited).
	if h.Metrics != nil {
		st := &e.resp.Stats
		for reason, n := range map[string]*atomic.Int64{
			"unknown-client": &st.UnknownClient, "malformed": &st.Malformed, "bad-authenticator": &st.BadAuthenticator,
		} {
			if err := h.Metrics.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "routerd_usermanager_dropped_requests_total",
				Help:        "RADIUS datagrams User Manager dropped without an answer, by reason.",
				ConstLabels: prometheus.Labels{"reason": reason},
			}, func() float64 { return float64(n.Load()) })); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close stops the listeners.
func (e *Engine) Close() error {
	e.stop()
	return nil
}

// Addr is the authentication socket's address (nil when not listening), for tests.
func (e *Engine) Addr() *net.UDPAddr {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.conns) == 0 {
		return nil
	}
	return e.conns[0].LocalAddr().(*net.UDPAddr)
}

// AcctAddr is the accounting socket's address.
func (e *Engine) AcctAddr() *net.UDPAddr {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.conns) < 2 {
		return nil
	}
	return e.conns[1].LocalAddr().(*net.UDPAddr)
}

// passwords wraps the generic add or set: password= is stored as given (sensitive, in
// the 0600 store; CHAP needs it) and, on set, drops the NT hash a user stored before
// passwords were kept may still carry, so no stale hash outlives a new password;
// password-hash= (from a backup) is checked.
func passwords(gen control.Handler, set bool) control.Handler {
	return func(ctx context.Context, c *control.Call) (*control.Reply, error) {
		s := *c.S
		s.Args = make([]control.Arg, 0, len(c.S.Args)+1)
		var pw, hash bool
		for _, a := range c.S.Args {
			switch a.Name {
			case "password":
				pw = true
			case "password-hash":
				hash = true
				if !a.Unset {
					if _, err := parseHash(a.Value); err != nil {
						return nil, control.ArgError("value of password-hash is %v", err)
					}
				}
			}
			s.Args = append(s.Args, a)
		}
		if pw && hash {
			return nil, control.ArgError("give password or password-hash, not both")
		}
		if pw && set {
			s.Args = append(s.Args, control.Arg{Name: "password-hash", Unset: true})
		}
		cc := *c
		cc.S = &s
		return gen(ctx, &cc)
	}
}

// parseHash reads a stored password hash ("nt:" and 32 hex digits).
func parseHash(s string) ([]byte, error) {
	h, ok := strings.CutPrefix(s, "nt:")
	b, err := hex.DecodeString(h)
	if !ok || err != nil || len(b) != 16 {
		return nil, errors.New("not nt: and 32 hex digits")
	}
	return b, nil
}

// Reconcile decodes the configuration for the request path and opens or closes the
// sockets.
func (e *Engine) Reconcile(ctx context.Context) error {
	e.pass.Lock()
	defer e.pass.Unlock()
	tree := e.ex.Tree
	decode := func(path string, each func(id uint64, dec func(dst any) error)) error {
		items, err := e.ex.Items(path)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		m, _ := tree.Get(path)
		for _, it := range items {
			it := it
			each(it.ID, func(dst any) error { return engine.Decode(m, it, dst) })
		}
		return nil
	}
	st := settingsItem{AuthPort: 1812, AcctPort: 1813}
	if err := decode(Path, func(id uint64, dec func(any) error) { dec(&st) }); err != nil {
		return err
	}
	cfg := &config{routers: map[netip.Addr]routerItem{}, users: map[string]*user{}}
	if err := decode(RouterPath, func(id uint64, dec func(any) error) {
		var r routerItem
		if err := dec(&r); err != nil {
			e.ex.State.Set(RouterPath, id, control.ItemState{Invalid: true, Status: err.Error()})
			return
		}
		if !r.Disabled {
			cfg.routers[r.Address.Unmap()] = r
		}
	}); err != nil {
		return err
	}
	groups := map[string]groupItem{}
	gattrs := map[string][]attr{}
	if err := decode(GroupPath, func(id uint64, dec func(any) error) {
		var g groupItem
		st := control.ItemState{}
		if err := dec(&g); err != nil {
			st.Invalid, st.Status = true, err.Error()
		} else if as, err := parseAttrs(g.Attrs); err != nil {
			st.Invalid, st.Status = true, err.Error()
		} else {
			groups[g.Name], gattrs[g.Name] = g, as
		}
		e.ex.State.Set(GroupPath, id, st)
	}); err != nil {
		return err
	}
	if err := decode(UserPath, func(id uint64, dec func(any) error) {
		var u user
		st := control.ItemState{}
		err := dec(&u.userItem)
		switch {
		case err != nil:
		case u.Password != "":
			u.nt = eap.NTHash(u.Password)
		case u.Hash != "":
			u.nt, err = parseHash(u.Hash)
		}
		var as []attr
		if err == nil {
			as, err = parseAttrs(u.Attrs)
		}
		g, gok := groups[u.Group]
		switch {
		case err != nil:
			st.Invalid, st.Status = true, err.Error()
		case !gok:
			st.Invalid, st.Status = true, "no such group "+u.Group
		case u.nt == nil:
			st.Status = "no password: cannot log in"
		case u.Password == "":
			st.Status = "password kept only as its NT hash (stored before routerd kept User Manager passwords): chap and ttls-chap need password= set again"
		}
		if err == nil && gok {
			u.outer, u.inner = g.Outer, g.Inner
			u.attrs = append(slices.Clone(gattrs[u.Group]), as...)
			if !u.Disabled {
				cfg.users[u.Name] = &u
			}
		}
		e.ex.State.Set(UserPath, id, st)
	}); err != nil {
		return err
	}
	cfg.cert = st.Cert
	cfg.anonOuter = groups["default-anonymous"].Outer
	e.cfg.Store(cfg)
	e.resp.RequireMessageAuth.Store(st.RequireMA != "no")
	if !st.Enabled {
		e.stop()
		return nil
	}
	e.mu.Lock()
	same := e.cancel != nil && e.listening.AuthPort == st.AuthPort && e.listening.AcctPort == st.AcctPort
	e.mu.Unlock()
	if same {
		return nil
	}
	e.stop()
	return e.listen(st)
}

// listen opens the authentication and accounting sockets and starts their readers.
func (e *Engine) listen(st settingsItem) error {
	host := net.IPv6unspecified
	if e.opts.Host != "" {
		host = net.ParseIP(e.opts.Host)
	}
	var conns []*net.UDPConn
	for _, p := range []uint16{st.AuthPort, st.AcctPort} {
		c, err := e.opts.Listen(&net.UDPAddr{IP: host, Port: int(p)})
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			// The host puts the engine's name before a failed pass's reason; the net
			// error repeated the address.
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("UDP port %d is in use by another program", p)
			}
			return fmt.Errorf("cannot listen on UDP port %d: %w", p, err)
		}
		conns = append(conns, c)
	}
	ctx, cancel := context.WithCancel(e.life)
	wg := &sync.WaitGroup{}
	for _, c := range conns {
		for range e.opts.Workers {
			wg.Add(1)
			e.h.Go(ctx, func(ctx context.Context) {
				defer wg.Done()
				if err := e.resp.Serve(ctx, c); err != nil {
					logger().Warn("socket failed", "err", err)
				}
			})
		}
	}
	e.mu.Lock()
	e.listening, e.cancel, e.conns, e.wg = st, cancel, conns, wg
	e.mu.Unlock()
	logger().Info("listening", "authentication-port", st.AuthPort, "accounting-port", st.AcctPort)
	return nil
}

func (e *Engine) stop() {
	e.mu.Lock()
	cancel, conns, wg := e.cancel, e.conns, e.wg
	e.cancel, e.conns, e.wg = nil, nil, nil
	e.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}

// secret finds the shared secret of the RADIUS client at a.
func (e *Engine) secret(a netip.Addr) ([]byte, string, bool) {
	r, ok := e.cfg.Load().routers[a.Unmap()]
	if !ok || r.Secret == "" {
		return nil, "", false
	}
	return []byte(r.Secret), r.Name, true
}

func (e *Engine) count(method string, i int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.counts[method]
	if c == nil {
		c = &[3]int64{}
		e.counts[method] = c
	}
	c[i]++
}

// reject answers Access-Reject and logs why.
func (e *Engine) reject(q *rad.Request, method, name, why string) *radius.Packet {
	e.count(method, 1)
	logger().Warn("login failed", "user", name, "method", method, "nas", q.NAS, "from", q.From.Addr(), "reason", why)
	r := q.Response(radius.CodeAccessReject)
	return r
}

// accept answers Access-Accept with the user's attributes.
func (e *Engine) accept(q *rad.Request, method string, u *user) *radius.Packet {
	e.count(method, 0)
	r := q.Response(radius.CodeAccessAccept)
	addAttrs(r, u.attrs)
	logger().Debug("login", "user", u.Name, "method", method, "nas", q.NAS)
	return r
}

// check says why a user may not log in with a method now ("" when it may; method ""
// skips the outer-auths check).
func (e *Engine) check(q *rad.Request, u *user, method string) string {
	if u == nil {
		return "no such user"
	}
	if method != "" && !slices.Contains(u.outer, method) {
		return "method " + method + " not in the outer-auths of group " + u.Group
	}
	if u.CallerID != "" && rfc2865.CallingStationID_GetString(q.Packet) != u.CallerID {
		return "caller-id does not match"
	}
	if u.Shared > 0 && e.active(u.Name) >= u.Shared {
		return fmt.Sprintf("shared-users=%d sessions already active", u.Shared)
	}
	return ""
}

// auth answers one Access-Request.
func (e *Engine) auth(ctx context.Context, q *rad.Request) *radius.Packet {
	cfg := e.cfg.Load()
	name := rfc2865.UserName_GetString(q.Packet)
	if msg := rad.EAPMessage(q.Packet); msg != nil {
		return e.eap(q, cfg, msg)
	}
	u := cfg.users[name]
	if resp, err := microsoft.MSCHAP2Response_Lookup(q.Packet); err == nil {
		return e.mschap2(q, u, name, resp)
	}
	if cp, ok := q.Lookup(rfc2865.CHAPPassword_Type); ok {
		return e.chap(q, u, name, cp)
	}
	if resp, err := microsoft.MSCHAPResponse_Lookup(q.Packet); err == nil {
		return e.mschap1(q, u, name, resp)
	}
	pw, err := rad.PAPPassword(q.Packet)
	if err != nil {
		return e.reject(q, "pap", name, "no password in the request")
	}
	if why := e.check(q, u, "pap"); why != "" {
		return e.reject(q, "pap", name, why)
	}
	if u.nt == nil || subtle.ConstantTimeCompare(eap.NTHash(pw), u.nt) != 1 {
		return e.reject(q, "pap", name, "wrong password")
	}
	return e.accept(q, "pap", u)
}

// chap checks a CHAP-Password (RFC 2865 5.3: the CHAP identifier and MD5 of identifier,
// password and challenge, RFC 1994 4.1) against the user's password; the challenge is
// CHAP-Challenge or else the Request Authenticator.
func (e *Engine) chap(q *rad.Request, u *user, name string, cp []byte) *radius.Packet {
	const method = "chap"
	if len(cp) != 17 {
		return e.reject(q, method, name, "malformed CHAP-Password")
	}
	if c, ok := q.Lookup(rfc2865.CHAPChallenge_Type); ok && len(c) == 0 {
		return e.reject(q, method, name, "malformed CHAP-Challenge")
	}
	if why := e.check(q, u, method); why != "" {
		return e.reject(q, method, name, why)
	}
	if u.Password == "" {
		return e.reject(q, method, name, "CHAP needs the password, and this user has only the NT hash of an older store: set password= again")
	}
	if !rad.CheckCHAP(q.Packet, u.Password) {
		return e.reject(q, method, name, "wrong password")
	}
	return e.accept(q, method, u)
}

// mschap2 checks an MS-CHAP2-Response (RFC 2548 2.3.2) against the user's NT hash.
func (e *Engine) mschap2(q *rad.Request, u *user, name string, resp []byte) *radius.Packet {
	const method = "mschap2"
	fail := func(why string) *radius.Packet {
		r := e.reject(q, method, name, why)
		if len(resp) > 0 {
			microsoft.MSCHAPError_Add(r, append([]byte{resp[0]}, "E=691 R=0 V=3"...))
		}
		return r
	}
	ch, err := microsoft.MSCHAPChallenge_Lookup(q.Packet)
	if err != nil || len(ch) != 16 || len(resp) != 50 {
		return fail("malformed MS-CHAPv2 attributes")
	}
	if why := e.check(q, u, method); why != "" {
		return fail(why)
	}
	peer, nt := resp[2:18], resp[26:50]
	if u.nt == nil || subtle.ConstantTimeCompare(eap.NTResponse(ch, peer, name, u.nt), nt) != 1 {
		return fail("wrong password")
	}
	r := e.accept(q, method, u)
	microsoft.MSCHAP2Success_Add(r, append([]byte{resp[0]}, eap.AuthenticatorResponse(ch, peer, nt, name, u.nt)...))
	send, recv := eap.MPPEKeys(u.nt, nt)
	rad.SetMPPEKeys(r, recv, send)
	microsoft.MSMPPEEncryptionPolicy_Add(r, microsoft.MSMPPEEncryptionPolicy_Value_EncryptionAllowed)
	microsoft.MSMPPEEncryptionTypes_Add(r, microsoft.MSMPPEEncryptionTypes_Value_RC440or128BitAllowed)
	return r
}

// mschap1 checks an MS-CHAP-Response (RFC 2433, RFC 2548 2.1.3) against the user's NT
// hash: the 24-byte NT-Response to the 8-byte MS-CHAP-Challenge. The LAN Manager response
// (flags 0) is refused: it needs the LM hash, which is not kept.
func (e *Engine) mschap1(q *rad.Request, u *user, name string, resp []byte) *radius.Packet {
	const method = "mschap1"
	fail := func(why string) *radius.Packet {
		r := e.reject(q, method, name, why)
		if len(resp) > 0 {
			microsoft.MSCHAPError_Add(r, append([]byte{resp[0]}, "E=691 R=1"...))
		}
		return r
	}
	ch, err := microsoft.MSCHAPChallenge_Lookup(q.Packet)
	if err != nil || len(ch) != 8 || len(resp) != 50 {
		return fail("malformed MS-CHAP attributes")
	}
	if resp[1] != 1 {
		return fail("MS-CHAP LAN Manager response (only the NT response is checked)")
	}
	if why := e.check(q, u, method); why != "" {
		return fail(why)
	}
	if u.nt == nil || subtle.ConstantTimeCompare(rfc2759.ChallengeResponse(ch, u.nt), resp[26:50]) != 1 {
		return fail("wrong password")
	}
	return e.accept(q, method, u)
}

// convTTL is how long an EAP conversation waits for the client's next message.
const convTTL = 60 * time.Second

// maxSessions bounds the accounting sessions kept.
const maxSessions = 1000

// acct records Accounting-Requests into sessions.
func (e *Engine) acct(ctx context.Context, q *rad.Request) *radius.Packet {
	typ := rfc2866.AcctStatusType_Get(q.Packet)
	id := rfc2866.AcctSessionID_GetString(q.Packet)
	user := rfc2865.UserName_GetString(q.Packet)
	now := time.Now()
	e.mu.Lock()
	var s *session
	for _, o := range e.sessions {
		if o.acctID == id && o.nas == q.NAS && o.user == user && o.ended.IsZero() {
			s = o
			break
		}
	}
	if s == nil && typ != rfc2866.AcctStatusType_Value_AccountingOn && typ != rfc2866.AcctStatusType_Value_AccountingOff {
		s = &session{acctID: id, user: user, nas: q.NAS, nasAddr: q.From.Addr().String(), started: now}
		if a := rfc2865.NASIPAddress_Get(q.Packet); a != nil {
			s.nasAddr = a.String()
		}
		e.sessions = append(e.sessions, s)
		// Keep the table bounded: drop the oldest ended session, else the oldest one (a
		// NAS that starts sessions and never stops them must not grow it for ever).
		if len(e.sessions) > maxSessions {
			drop := 0
			for i, o := range e.sessions {
				if !o.ended.IsZero() {
					drop = i
					break
				}
			}
			e.sessions = slices.Delete(e.sessions, drop, drop+1)
		}
	}
	if s != nil {
		s.port = rfc2869.NASPortID_GetString(q.Packet)
		s.caller = rfc2865.CallingStationID_GetString(q.Packet)
		if a := rfc2865.FramedIPAddress_Get(q.Packet); a != nil {
			s.addr = a.String()
		}
		s.uptime = time.Duration(rfc2866.AcctSessionTime_Get(q.Packet)) * time.Second
		s.in = uint64(rfc2866.AcctInputOctets_Get(q.Packet)) | uint64(rfc2869.AcctInputGigawords_Get(q.Packet))<<32
		s.out = uint64(rfc2866.AcctOutputOctets_Get(q.Packet)) | uint64(rfc2869.AcctOutputGigawords_Get(q.Packet))<<32
		s.lastAcct = now
		switch typ {
		case rfc2866.AcctStatusType_Value_Start:
			s.status = "start"
		case rfc2866.AcctStatusType_Value_InterimUpdate:
			s.status = "interim"
		case rfc2866.AcctStatusType_Value_Stop:
			s.status, s.ended = "stop", now
			if c, err := rfc2866.AcctTerminateCause_Lookup(q.Packet); err == nil {
				s.cause = terminateCause(c)
			}
		}
	}
	e.mu.Unlock()
	return q.Response(radius.CodeAccountingResponse)
}

// terminateCause names an Acct-Terminate-Cause as RouterOS prints it: the RFC 2866
// name in lower case (user-request, lost-carrier, session-timeout ...), or its number.
func terminateCause(c rfc2866.AcctTerminateCause) string {
	if n, ok := rfc2866.AcctTerminateCause_Strings[c]; ok {
		return strings.ToLower(n)
	}
	return strconv.FormatUint(uint64(c), 10)
}

// active counts a user's open accounting sessions.
func (e *Engine) active(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, s := range e.sessions {
		if s.user == name && s.ended.IsZero() {
			n++
		}
	}
	return n
}

// logger logs under /log topic manager, as RouterOS's User Manager does.
func logger() *slog.Logger { return slog.Default().With("topic", "manager") }
