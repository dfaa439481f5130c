package user

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ssh"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

// Login errors. Protocols show ErrDenied's text to the client as RouterOS does; the
// others say more only in the log, so a client cannot tell a wrong password from an
// unknown user or a missing policy.
var (
	// ErrDenied: wrong name or password, unknown user, disabled user, address not
	// allowed, or the user's group lacks the service's policy.
	ErrDenied = errors.New("invalid user name or password (6)")
	// ErrRateLimited: too many failed logins from the remote address; try later.
	ErrRateLimited = errors.New("too many failed logins, try again later")
)

// ServicePolicy is the group policy a login through each service needs. On www and
// www-ssl either web or rest-api lets a user in, as RouterOS 7 has it (a REST client's
// group is typically read,api,rest-api); the handlers then check what each part
// needs with Session.Can: rest-api for /rest, web for the status pages.
var ServicePolicy = map[string]string{
	"api": "api", "api-ssl": "api",
	"ssh": "ssh", "telnet": "telnet", "ftp": "ftp",
	"www": "web", "www-ssl": "web",
	"winbox": "winbox", "local": "local",
}

// Rate limit defaults. At most MaxFailures attempts per address and user name are
// failing or under way within Window, and at most AddressFailures per address whatever
// the names. An attempt is counted while its (slow, argon2) check runs, so parallel
// connections cannot race past the limit; one that would exceed the limit only because
// of attempts still running waits for them to end (a correct login never counts as a
// failure, so twenty clients logging in at once from one address all get in), and one
// that meets MaxFailures failures is refused without a password check until the oldest
// has aged out of the window, a delay rather than a wall: the limit is per address, so
// guesses from elsewhere never lock a user out, and a user's right password from its
// own address works again a Window after the last guesses.
const (
	DefaultMaxFailures     = 5
	DefaultAddressFailures = 20
	DefaultWindow          = time.Minute
	// DefaultLockout is kept for callers that set it; the window is the delay.
	DefaultLockout = time.Minute
)

// Auth checks logins against /user. It is safe for concurrent use.
type Auth struct {
	ex  *control.Executor
	log *slog.Logger

	// Rate limiting; set before the first login.
	MaxFailures     int
	AddressFailures int
	Window          time.Duration
	Lockout         time.Duration
	now             func() time.Time

	mu       sync.Mutex
	failures map[limitKey]*failures
	// ended is closed (and replaced) whenever an attempt ends: attempts that waited for
	// running ones look at the counts again.
	ended chan struct{}

	// Argon2 costs 19 MiB a check; bounding concurrent checks bounds what a flood of
	// logins can allocate.
	hashing chan struct{}

	logins *prometheus.CounterVec

	active activeSessions
}

// limitKey is an address and a user name, or an address alone (all set).
type limitKey struct {
	addr netip.Addr
	name string
	all  bool
}

type failures struct {
	times    []time.Time // failed attempts within the window
	inflight int         // attempts being checked
}

// NewAuth returns an Auth over the executor's /user menu. reg (may be nil) receives
// routerd_user_logins_total.
func NewAuth(ex *control.Executor, reg prometheus.Registerer) *Auth {
	a := &Auth{
		ex: ex, log: slog.Default().With("topic", "system,info,account"),
		MaxFailures: DefaultMaxFailures, AddressFailures: DefaultAddressFailures,
		Window: DefaultWindow, Lockout: DefaultLockout,
		now: time.Now, failures: map[limitKey]*failures{}, ended: make(chan struct{}), hashing: make(chan struct{}, 4),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_user_logins_total",
			Help: "Login attempts by service and result (ok, denied, rate-limited).",
		}, []string{"service", "result"}),
	}
	if reg != nil {
		reg.MustRegister(a.logins)
	}
	ex.Provide(ActivePath, a.active.rows(ex))
	ex.SetEngine(ActivePath, "user")
	return a
}

// Login checks a name and password for a login from remote through service (an /ip
// service name, such as "api" or "ssh") and returns the user's session: its group's
// policies, ShowSensitive from the sensitive policy.
func (a *Auth) Login(ctx context.Context, name, password string, remote netip.Addr, service string) (*control.Session, error) {
	return a.login(ctx, name, remote, service, "password", func(u *account) bool {
		select {
		case a.hashing <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		defer func() { <-a.hashing }()
		h := u.hash
		if h == "" {
			// No password set (a user from an export: RouterOS never exports passwords).
			// RouterOS lets the empty password in; routerd does not, as it gives admin a
			// random one rather than start with none: such a user logs in by key or
			// once someone sets a password. The time a check takes is spent anyway.
			VerifyPassword(dummyHash(), password)
			return false
		}
		return VerifyPassword(h, password)
	})
}

// LoginKey checks a public key offered by an ssh client against the user's imported
// keys (/user ssh-keys).
func (a *Auth) LoginKey(ctx context.Context, name string, key ssh.PublicKey, remote netip.Addr, service string) (*control.Session, error) {
	if key == nil {
		return nil, ErrDenied
	}
	want := key.Marshal()
	return a.login(ctx, name, remote, service, "public key", func(u *account) bool {
		for _, k := range u.keys {
			if bytes.Equal(k.Marshal(), want) {
				return true
			}
		}
		return false
	})
}

// account is what a login needs to know of a user.
type account struct {
	hash     string
	group    string
	policies map[string]bool
	address  []netip.Prefix
	disabled bool
	keys     []ssh.PublicKey
	id       uint64
}

func (a *Auth) login(ctx context.Context, name string, remote netip.Addr, service, method string, check func(*account) bool) (*control.Session, error) {
	remote = remote.Unmap()
	done, admitted := a.begin(ctx, remote, name)
	if !admitted {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		a.logins.WithLabelValues(service, "rate-limited").Inc()
		a.log.Warn(fmt.Sprintf("login failure for user %s from %s via %s: too many failed logins", name, remote, service))
		return nil, ErrRateLimited
	}
	succeeded := false
	defer func() { done(succeeded) }()
	u, why, err := a.lookup(name)
	if err != nil {
		return nil, err
	}
	ok := false
	if u == nil {
		// Spend the time a real check takes, so names cannot be probed by timing.
		VerifyPassword(dummyHash(), "")
	} else {
		ok = check(u)
		switch {
		case !ok && method == "password" && u.hash == "":
			why = "no password set"
		case !ok:
			why = "wrong " + method
		case u.disabled:
			ok, why = false, "user disabled"
		case !allowed(u.address, remote):
			ok, why = false, "address not allowed"
		case !policyFor(u, service):
			ok, why = false, fmt.Sprintf("group %s lacks the %s policy", u.group, ServicePolicy[service])
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if !ok {
		a.logins.WithLabelValues(service, "denied").Inc()
		a.log.Warn(fmt.Sprintf("login failure for user %s from %s via %s", name, remote, service), "reason", why)
		return nil, ErrDenied
	}
	succeeded = true
	a.logins.WithLabelValues(service, "ok").Inc()
	a.log.Info(fmt.Sprintf("user %s logged in from %s via %s", name, remote, service))
	a.ex.State.Set(UserPath, u.id, control.ItemState{Props: map[string]string{
		"last-logged-in": a.now().Format("2006-01-02 15:04:05")}})
	sess := &control.Session{User: name, Policies: u.policies, ShowSensitive: u.policies["sensitive"]}
	a.active.add(ctx, sess, activeSession{when: a.now(), name: name, address: remote, via: service, group: u.group})
	return sess, nil
}

func policyFor(u *account, service string) bool {
	p, ok := ServicePolicy[service]
	if !ok {
		return false
	}
	if p == "web" && u.policies["rest-api"] {
		return true
	}
	return u.policies[p]
}

func allowed(prefixes []netip.Prefix, remote netip.Addr) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if p.Contains(remote) {
			return true
		}
	}
	return false
}

// lookup reads a user, its group's policies and its keys. A nil account with no error
// means no such user (why says so for the log).
func (a *Auth) lookup(name string) (*account, string, error) {
	var u *account
	why := ""
	err := a.ex.Store.View(func(tx *store.Tx) error {
		id, ok := tx.ByName(UserPath, name)
		if !ok || name == "" {
			why = "no such user"
			return nil
		}
		it, err := tx.Get(UserPath, id)
		if err != nil {
			return err
		}
		u = &account{id: id, hash: it.Props["password-hash"], group: it.Props["group"],
			disabled: it.Props["disabled"] == "yes", policies: map[string]bool{}}
		u.address = parsePrefixes(it.Props["address"])
		if gid, ok := tx.ByName(GroupPath, u.group); ok {
			g, err := tx.Get(GroupPath, gid)
			if err != nil {
				return err
			}
			for _, p := range strings.Split(g.Props["policy"], ",") {
				if p != "" {
					u.policies[p] = true
				}
			}
		}
		keys, err := tx.List(KeysPath)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.Props["user"] != name {
				continue
			}
			if pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Props["key"])); err == nil {
				u.keys = append(u.keys, pk)
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("user lookup: %w", err)
	}
	return u, why, nil
}

func parsePrefixes(v string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range strings.Split(v, ",") {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		} else if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	return out
}

// begin counts an attempt from remote for name before its check runs. It refuses
// (false) when the address and name, or the address alone, already have their limit of
// failed attempts within the window; when running attempts alone take them to the
// limit, it waits for one to end and looks again (a correct login does not count, so
// it is never refused for the logins running beside it). done records the outcome: a
// success does not count against the limit. ctx ending while it waits refuses.
func (a *Auth) begin(ctx context.Context, remote netip.Addr, name string) (done func(ok bool), allowed bool) {
	// An IPv6 host usually has a whole /64: counted per address, it could guess
	// without limit from the addresses it has.
	if remote.Is6() && !remote.Is4In6() {
		p, _ := remote.Prefix(64)
		remote = p.Addr()
	}
	keys := []limitKey{{addr: remote, name: name}, {addr: remote, all: true}}
	for {
		fs, wait, ok := a.admit(keys)
		if ok {
			return a.ender(fs), true
		}
		if wait == nil {
			return nil, false
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// admit counts an attempt for keys if their limits allow it now. Otherwise it returns
// a channel to wait on when attempts under way are what keeps it out, nil when
// failures alone do.
func (a *Auth) admit(keys []limitKey) (fs []*failures, wait <-chan struct{}, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	// Forget keys that went quiet, so a scan from many addresses cannot grow the map
	// without bound.
	if len(a.failures) > 10000 {
		for k, f := range a.failures {
			if f.inflight == 0 && (len(f.times) == 0 || now.Sub(f.times[len(f.times)-1]) > a.Window) {
				delete(a.failures, k)
			}
		}
	}
	limits := []int{a.MaxFailures, max(a.AddressFailures, a.MaxFailures)}
	fs = make([]*failures, len(keys))
	busy := false
	for i, k := range keys {
		f := a.failures[k]
		if f == nil {
			f = &failures{}
			a.failures[k] = f
		}
		keep := f.times[:0]
		for _, t := range f.times {
			if now.Sub(t) < a.Window {
				keep = append(keep, t)
			}
		}
		f.times = keep
		if len(f.times) >= limits[i] {
			return nil, nil, false
		}
		if len(f.times)+f.inflight >= limits[i] {
			busy = true
		}
		fs[i] = f
	}
	if busy {
		return nil, a.ended, false
	}
	for _, f := range fs {
		f.inflight++
	}
	return fs, nil, true
}

// ender is the done of an admitted attempt: it records a failure and wakes the
// attempts waiting for this one.
func (a *Auth) ender(fs []*failures) func(ok bool) {
	return func(ok bool) {
		a.mu.Lock()
		defer a.mu.Unlock()
		t := a.now()
		for _, f := range fs {
			f.inflight--
			if !ok {
				f.times = append(f.times, t)
			}
		}
		close(a.ended)
		a.ended = make(chan struct{})
	}
}
