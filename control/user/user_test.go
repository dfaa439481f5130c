package user

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/script"
)

type rig struct {
	ex   *control.Executor
	in   *script.Interp
	con  *script.Console
	auth *Auth
	dir  string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "files"), 0o700)
	ex := controltest.NewIn(t, dir)
	Register(ex, dir)
	if err := Seed(ex, dir); err != nil {
		t.Fatal(err)
	}
	return &rig{ex: ex, in: &script.Interp{Ex: ex, Globals: &script.Globals{}},
		con:  &script.Console{Sess: &control.Session{User: "root", ShowSensitive: true}},
		auth: NewAuth(ex, nil), dir: dir}
}

func (r *rig) run(t *testing.T, src string) string {
	t.Helper()
	var b strings.Builder
	if err := r.in.Run(context.Background(), r.con, src, &b); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return b.String()
}

func (r *rig) fails(t *testing.T, src, want string) {
	t.Helper()
	var b strings.Builder
	err := r.in.Run(context.Background(), r.con, src, &b)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: got %v, want error containing %q", src, err, want)
	}
}

var local = netip.MustParseAddr("198.18.0.1")

func TestInitialAdmin(t *testing.T) {
	r := newRig(t)
	path := filepath.Join(r.dir, InitialPasswordFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	pw, _ := os.ReadFile(path)
	password := strings.TrimSpace(string(pw))
	if len(password) < 16 {
		t.Fatalf("password %q too short", password)
	}
	sess, err := r.auth.Login(context.Background(), "admin", password, local, "api")
	if err != nil {
		t.Fatal(err)
	}
	if !sess.Can("policy") || !sess.ShowSensitive || sess.User != "admin" {
		t.Fatalf("admin session %+v", sess)
	}
	// A second start does not replace the password.
	if err := Seed(r.ex, r.dir); err != nil {
		t.Fatal(err)
	}
	if pw2, _ := os.ReadFile(path); string(pw2) != string(pw) {
		t.Fatal("second start rewrote the password")
	}
	// No store value holds the plain password.
	raw, _ := os.ReadFile(filepath.Join(r.dir, "routerd.db"))
	if strings.Contains(string(raw), password) {
		t.Fatal("plain password found in the store file")
	}
}

func TestPasswordWriteOnly(t *testing.T) {
	r := newRig(t)
	r.run(t, `/user add name=ops group=write password="s3cret pass"`)
	out := r.run(t, `/user print detail`)
	if strings.Contains(out, "s3cret") || strings.Contains(out, "argon2") || strings.Contains(out, "password") || !strings.Contains(out, "ops") {
		t.Fatalf("print shows the password:\n%s", out)
	}
	if out := r.run(t, `/user export`); strings.Contains(out, "password") {
		t.Fatalf("export without show-sensitive shows a password:\n%s", out)
	}
	// RouterOS never exports user passwords: not even show-sensitive shows the hash;
	// only a backup carries it.
	if exp := r.run(t, `/user export show-sensitive`); strings.Contains(exp, "password-hash") || strings.Contains(exp, "argon2") {
		t.Fatalf("export show-sensitive shows the hash:\n%s", exp)
	}
	if out := r.run(t, `/user print detail show-sensitive`); strings.Contains(out, "argon2") {
		t.Fatalf("print show-sensitive shows the hash:\n%s", out)
	}
	exp, err := r.ex.Export(context.Background(), nil, "/user", control.ExportOptions{ShowSensitive: true, Backup: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(exp, "password-hash=") || strings.Contains(exp, "s3cret") {
		t.Fatalf("backup export:\n%s", exp)
	}
	// The backup's text restores the user with its password in another router.
	r2 := newRig(t)
	r2.run(t, "/user "+exp[strings.Index(exp, "add group=write"):])
	if _, err := r2.auth.Login(context.Background(), "ops", "s3cret pass", local, "api"); err != nil {
		t.Fatalf("login after import: %v", err)
	}
	if _, err := r2.auth.Login(context.Background(), "ops", "wrong", local, "api"); !errors.Is(err, ErrDenied) {
		t.Fatalf("wrong password after import: %v", err)
	}
	// A hash that is not one ours is refused, and changes nothing.
	r.fails(t, `/user set ops password-hash=abc`, "password-hash")
	r.fails(t, `/user add name=x group=read password-hash="\$argon2id\$v=19\$m=999999999,t=2,p=1\$AAAAAAAAAAAAAAAA\$AAAAAAAAAAAAAAAAAAAAAA"`, "password-hash")
	r.fails(t, `/user add name=y group=read password=a password-hash="`+strings.ReplaceAll(mustHash(t, "a"), "$", `\$`)+`"`, "not both")
	if out := r.run(t, `:put [/user find name=x]`); strings.TrimSpace(out) != "" {
		t.Fatalf("refused add left an item: %q", out)
	}
	// set password replaces the hash.
	r.run(t, `/user set ops password=newpass`)
	if _, err := r.auth.Login(context.Background(), "ops", "newpass", local, "api"); err != nil {
		t.Fatal(err)
	}
}

func mustHash(t *testing.T, pw string) string {
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestGroupsAndPolicies(t *testing.T) {
	r := newRig(t)
	r.run(t, `/user add name=reader group=read password=pw`)
	r.run(t, `/user add name=writer group=write password=pw`)
	r.run(t, `/user group add name=sshonly policy=ssh,read`)
	r.run(t, `/user add name=sshop group=sshonly password=pw`)
	ctx := context.Background()
	rs, err := r.auth.Login(ctx, "reader", "pw", local, "api")
	if err != nil {
		t.Fatal(err)
	}
	if rs.Can("write") || !rs.Can("read") || !rs.ShowSensitive {
		t.Fatalf("read group policies %v", rs.Policies)
	}
	// The executor enforces them.
	_, err = r.ex.Exec(ctx, rs, &control.Sentence{Path: "/system/script", Cmd: "add", Args: []control.Arg{{Name: "name", Value: "x"}}})
	if err == nil || !strings.Contains(err.Error(), "not enough permissions") {
		t.Fatalf("read user add: %v", err)
	}
	ws, err := r.auth.Login(ctx, "writer", "pw", local, "api")
	if err != nil {
		t.Fatal(err)
	}
	// write has no policy policy: it cannot manage users.
	_, err = r.ex.Exec(ctx, ws, &control.Sentence{Path: "/user", Cmd: "add", Args: []control.Arg{
		{Name: "name", Value: "evil"}, {Name: "group", Value: "full"}, {Name: "password", Value: "x"}}})
	if err == nil || !strings.Contains(err.Error(), "not enough permissions") {
		t.Fatalf("write user adds a full user: %v", err)
	}
	if _, err := r.auth.Login(ctx, "sshop", "pw", local, "api"); !errors.Is(err, ErrDenied) {
		t.Fatalf("user without api policy logged in over api: %v", err)
	}
	if _, err := r.auth.Login(ctx, "sshop", "pw", local, "ssh"); err != nil {
		t.Fatal(err)
	}
	// RouterOS 7's least-privilege REST group: rest-api lets the user in over www
	// without web; a group with neither stays out.
	r.run(t, `/user group add name=restro policy=read,api,rest-api`)
	r.run(t, `/user add name=restop group=restro password=pw`)
	if s, err := r.auth.Login(ctx, "restop", "pw", local, "www-ssl"); err != nil || s.Can("web") || !s.Can("rest-api") {
		t.Fatalf("rest-api group over www-ssl: %v", err)
	}
	if _, err := r.auth.Login(ctx, "sshop", "pw", local, "www"); !errors.Is(err, ErrDenied) {
		t.Fatalf("user without web or rest-api logged in over www: %v", err)
	}
	r.fails(t, `/user group remove full`, "default")
	r.fails(t, `/user group remove sshonly`, "in use")
	r.fails(t, `/user add name=z group=nosuch`, "group")
	// Disabled users and addresses outside the user's list are refused.
	r.run(t, `/user set reader address=198.19.0.0/16`)
	if _, err := r.auth.Login(ctx, "reader", "pw", local, "api"); !errors.Is(err, ErrDenied) {
		t.Fatalf("login from outside the user's address list: %v", err)
	}
	if _, err := r.auth.Login(ctx, "reader", "pw", netip.MustParseAddr("198.19.1.1"), "api"); err != nil {
		t.Fatal(err)
	}
	r.run(t, `/user disable writer`)
	if _, err := r.auth.Login(ctx, "writer", "pw", local, "api"); !errors.Is(err, ErrDenied) {
		t.Fatalf("disabled user logged in: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	r := newRig(t)
	r.run(t, `/user add name=ops group=full password=right`)
	now := time.Unix(1_000_000, 0)
	r.auth.now = func() time.Time { return now }
	r.auth.MaxFailures, r.auth.Window, r.auth.Lockout = 3, time.Minute, time.Minute
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := r.auth.Login(ctx, "ops", "wrong", local, "api"); !errors.Is(err, ErrDenied) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	// Locked out: even the right password is refused without being checked.
	if _, err := r.auth.Login(ctx, "ops", "right", local, "api"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("after 3 failures: %v", err)
	}
	// Another address is not affected.
	if _, err := r.auth.Login(ctx, "ops", "right", netip.MustParseAddr("198.18.0.2"), "api"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(61 * time.Second)
	if _, err := r.auth.Login(ctx, "ops", "right", local, "api"); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	// Guesses at other names from the same address do not lock ops out (the lockout
	// is per address and user) until the address as a whole reaches its limit.
	r.auth.AddressFailures = 6
	for i := 0; i < 3; i++ {
		r.auth.Login(ctx, "nobody", "x", local, "api")
	}
	if _, err := r.auth.Login(ctx, "ops", "right", local, "api"); err != nil {
		t.Fatalf("after another name's failures: %v", err)
	}
	for i := 0; i < 3; i++ {
		r.auth.Login(ctx, fmt.Sprintf("spray%d", i), "x", local, "api")
	}
	if _, err := r.auth.Login(ctx, "ops", "right", local, "api"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("after 6 failures of any names from one address: %v", err)
	}
}

// TestRateLimitParallel: attempts are counted when they start, so parallel guesses
// from one address get exactly MaxFailures password checks, not one per connection.
func TestRateLimitParallel(t *testing.T) {
	r := newRig(t)
	r.run(t, `/user add name=ops group=full password=right`)
	var denied, limited atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.auth.Login(context.Background(), "ops", "wrong", local, []string{"api", "ssh", "telnet"}[i%3])
			switch {
			case errors.Is(err, ErrDenied):
				denied.Add(1)
			case errors.Is(err, ErrRateLimited):
				limited.Add(1)
			}
		}()
	}
	wg.Wait()
	if denied.Load() != DefaultMaxFailures || limited.Load() != 30-DefaultMaxFailures {
		t.Fatalf("30 parallel guesses: %d checked, %d refused; want %d checked", denied.Load(), limited.Load(), DefaultMaxFailures)
	}
}

// TestConcurrentCorrectLogins: correct logins running side by side from one address
// are no failures; each waits for the checks running beside it rather than being
// refused because of them (API clients that open one connection per worker).
func TestConcurrentCorrectLogins(t *testing.T) {
	r := newRig(t)
	r.run(t, `/user add name=ops group=full password=right`)
	var refused atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.auth.Login(context.Background(), "ops", "right", local, "api"); err != nil {
				refused.Add(1)
				t.Errorf("login %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if refused.Load() != 0 {
		t.Fatalf("%d of 20 concurrent correct logins refused", refused.Load())
	}
	// The guesses still meet the limit: MaxFailures checks, then refusals, also for
	// the right password.
	for i := 0; i < DefaultMaxFailures; i++ {
		if _, err := r.auth.Login(context.Background(), "ops", "wrong", local, "api"); !errors.Is(err, ErrDenied) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, err := r.auth.Login(context.Background(), "ops", "right", local, "api"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("after %d failures: %v", DefaultMaxFailures, err)
	}
}

// TestWaitingLoginEndsWithContext: a login waiting for running checks gives up when its
// connection does.
func TestWaitingLoginEndsWithContext(t *testing.T) {
	r := newRig(t)
	r.auth.MaxFailures = 1
	// One attempt under way holds the only place.
	done, ok := r.auth.begin(context.Background(), local, "ops")
	if !ok {
		t.Fatal("first attempt refused")
	}
	defer done(true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.auth.Login(ctx, "ops", "right", local, "api"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting login: %v, want the context's end", err)
	}
}

func TestSSHKeys(t *testing.T) {
	r := newRig(t)
	r.run(t, `/user add name=ops group=full password=pw`)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	spk, _ := ssh.NewPublicKey(pub)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	opk, _ := ssh.NewPublicKey(other)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(spk))) + " ops@laptop\n"
	os.WriteFile(filepath.Join(r.dir, "files", "ops.pub"), []byte(line), 0o600)
	r.run(t, `/user ssh-keys import public-key-file=ops.pub user=ops`)
	out := r.run(t, `/user ssh-keys print`)
	if !strings.Contains(out, "ssh-ed25519") || !strings.Contains(out, "ops@laptop") || !strings.Contains(out, "256") {
		t.Fatalf("print:\n%s", out)
	}
	ctx := context.Background()
	if _, err := r.auth.LoginKey(ctx, "ops", spk, local, "ssh"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.auth.LoginKey(ctx, "ops", opk, local, "ssh"); !errors.Is(err, ErrDenied) {
		t.Fatalf("other key: %v", err)
	}
	if _, err := r.auth.LoginKey(ctx, "admin", spk, local, "ssh"); !errors.Is(err, ErrDenied) {
		t.Fatalf("key of ops for admin: %v", err)
	}
	r.fails(t, `/user ssh-keys import public-key-file=../routerd.db user=ops`, "cannot read")
	r.fails(t, `/user ssh-keys import public-key-file=ops.pub user=nobody`, "user")
	r.fails(t, `/user ssh-keys add user=ops key="ssh-ed25519 notbase64"`, "not a public key")
}

func TestHashFormat(t *testing.T) {
	h := mustHash(t, "pw")
	if !VerifyPassword(h, "pw") || VerifyPassword(h, "pW") {
		t.Fatal("verify")
	}
	if h == mustHash(t, "pw") {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "pw", "$argon2id$v=19$m=19456,t=2,p=1$$", "$argon2i$v=19$m=19456,t=2,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=19456,t=0,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA"} {
		if CheckHash(bad) == nil {
			t.Errorf("CheckHash(%q) accepted", bad)
		}
	}
}

func FuzzCheckHash(f *testing.F) {
	f.Add(mustHashF("x"))
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, h string) {
		if CheckHash(h) != nil {
			return
		}
		p, _ := parseHash(h)
		if p.memory > 256*1024 || p.time > 16 {
			t.Fatalf("accepted costly parameters %q", h)
		}
	})
}

func mustHashF(pw string) string { h, _ := HashPassword(pw); return h }

// TestRateLimitIPv6Prefix: guesses from the addresses of one IPv6 /64 count together
// (per address, a host with a /64 could guess without end); another /64 is not
// affected.
func TestRateLimitIPv6Prefix(t *testing.T) {
	r := newRig(t)
	r.run(t, `/user add name=ops group=full password=right`)
	r.auth.MaxFailures = 3
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		a := netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i))
		if _, err := r.auth.Login(ctx, "ops", "wrong", a, "api"); !errors.Is(err, ErrDenied) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, err := r.auth.Login(ctx, "ops", "wrong", netip.MustParseAddr("2001:db8:1:2:ffff::9"), "api"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("a fourth guess from another address of the same /64: %v", err)
	}
	if _, err := r.auth.Login(ctx, "ops", "right", netip.MustParseAddr("2001:db8:1:3::1"), "api"); err != nil {
		t.Fatalf("from another /64: %v", err)
	}
}

// A user without a password (one from an export: RouterOS never exports passwords) does
// not log in with the empty password; a key still works, and so does a password once set.
func TestNoPasswordNoLogin(t *testing.T) {
	r := newRig(t)
	r.run(t, `/user add name=bob group=full`)
	ctx := context.Background()
	for _, pw := range []string{"", "x"} {
		if _, err := r.auth.Login(ctx, "bob", pw, local, "api"); !errors.Is(err, ErrDenied) {
			t.Errorf("password %q for a user without one: %v", pw, err)
		}
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	spk, _ := ssh.NewPublicKey(pub)
	r.run(t, `/user ssh-keys add user=bob key="`+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(spk)))+`"`)
	if _, err := r.auth.LoginKey(ctx, "bob", spk, local, "ssh"); err != nil {
		t.Errorf("key login of a user without a password: %v", err)
	}
	r.run(t, `/user set bob password=now-one`)
	if _, err := r.auth.Login(ctx, "bob", "now-one", local, "api"); err != nil {
		t.Errorf("after the password was set: %v", err)
	}
}
