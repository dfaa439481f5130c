package tftp

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/script"
)

type engineRig struct {
	e   *Engine
	in  *script.Interp
	con *script.Console
	dir string
	reg *prometheus.Registry
}

func newEngineRig(t testing.TB, opts Options) *engineRig {
	t.Helper()
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	opts.DataDir = dir
	reg := prometheus.NewRegistry()
	e := start(t, ctx, ex, reg, opts)
	t.Cleanup(cancel)
	if err := os.MkdirAll(filepath.Join(dir, "files", "sata1"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &engineRig{e: e, in: &script.Interp{Ex: ex, Globals: &script.Globals{}},
		con: &script.Console{Sess: &control.Session{User: "admin"}}, dir: dir, reg: reg}
}

// start runs the engine on a host of its own, stopped (every goroutine joined) at cleanup.
func start(t testing.TB, ctx context.Context, ex *control.Executor, reg prometheus.Registerer, opts Options) *Engine {
	t.Helper()
	h := engine.New(ex, reg)
	e := New(opts)
	h.Register(e)
	h.Start(ctx)
	t.Cleanup(h.Stop)
	return e
}

// run runs console source and then applies it the way the watcher's wake-up does, so
// the test need not wait for the engine's goroutine.
func (r *engineRig) run(t testing.TB, src string) string {
	t.Helper()
	var b strings.Builder
	if err := r.in.Run(context.Background(), r.con, src, &b); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	r.e.Reconcile(context.Background())
	return b.String()
}

func (r *engineRig) addr(t *testing.T) *net.UDPAddr {
	t.Helper()
	a, ok := r.e.LocalAddr().(*net.UDPAddr)
	if !ok {
		t.Fatal("the server does not listen")
	}
	return a
}

// The reference's examples, typed as written, decide requests in order; hits count the
// deciding rule; no enabled rule means no server.
func TestEngineReferenceExamples(t *testing.T) {
	r := newEngineRig(t, Options{})
	if r.e.LocalAddr() != nil {
		t.Fatal("listening without rules")
	}
	os.WriteFile(filepath.Join(r.dir, "files", "sata1", "file.txt"), []byte("file"), 0o644)
	os.WriteFile(filepath.Join(r.dir, "files", "sata1", "ccc.bin"), []byte("ccc"), 0o644)
	r.run(t, `/ip tftp add req-filename=file.txt real-filename=/sata1/file.txt allow=yes read-only=yes
/ip tftp add req-filename=.* real-filename=/sata1/file.txt allow=yes read-only=yes
/ip tftp add req-filename="(aaa.bin)|(bbb.bin)" real-filename="/sata1/ccc.bin\\0" allow=yes read-only=yes`)
	srv := r.addr(t).AddrPort()
	if out := r.run(t, `:put [/ip tftp get 2 real-filename]`); out != "/sata1/ccc.bin\\0\n" {
		t.Fatalf("stored real-filename %q", out)
	}
	if out := r.run(t, `/ip tftp export`); !strings.Contains(out, `real-filename="/sata1/ccc.bin\\0"`) {
		t.Fatalf("export:\n%s", out)
	}
	// The second rule takes everything the first does not.
	for _, name := range []string{"file.txt", "aaa.bin", "whatever"} {
		if got, _, err := testGet(t, srv, name, "octet"); err != nil || string(got) != "file" {
			t.Fatalf("%s: %q %v", name, got, err)
		}
	}
	waitIdle(t, r.e.srv)
	if out := r.run(t, `:put [/ip tftp get 0 hits]; :put [/ip tftp get 1 hits]; :put [/ip tftp get 2 hits]`); out != "1\n2\n0\n" {
		t.Fatalf("hits:\n%s", out)
	}
	r.run(t, `/ip tftp disable 1`)
	for _, name := range []string{"aaa.bin", "bbb.bin"} {
		if got, _, err := testGet(t, srv, name, "octet"); err != nil || string(got) != "ccc" {
			t.Fatalf("%s with rule 1 disabled: %q %v", name, got, err)
		}
	}
	if _, _, err := testGet(t, srv, "whatever", "octet"); errCode(err) != errAccess {
		t.Fatalf("no rule matches: %v", err)
	}
	// max-block-size caps blksize.
	r.run(t, `/ip tftp settings set max-block-size=1024`)
	if _, acc, err := testGet(t, srv, "file.txt", "octet", opt{"blksize", "8192"}); err != nil || acc["blksize"] != "1024" {
		t.Fatalf("blksize with max-block-size=1024: %v %v", acc, err)
	}
	// A rule the engine cannot apply is flagged invalid and says why; the others work.
	r.run(t, `/ip tftp add req-filename="a(b" comment=broken`)
	out := r.run(t, `/ip tftp print detail where comment=broken`)
	if !strings.Contains(out, "I") || !strings.Contains(out, "bad regular expression") {
		t.Fatalf("broken rule:\n%s", out)
	}
	if got, _, err := testGet(t, srv, "file.txt", "octet"); err != nil || string(got) != "file" {
		t.Fatalf("with a broken rule: %q %v", got, err)
	}
	waitIdle(t, r.e.srv)
	if n := testutil.ToFloat64(r.e.srv.Metrics.Requests.WithLabelValues("read", "denied")); n != 1 {
		t.Fatalf("denied reads counted %v, want 1", n)
	}
	r.run(t, `/ip tftp remove [find]`)
	if r.e.LocalAddr() != nil {
		t.Fatal("still listening after every rule was removed")
	}
}

// Another socket on the port makes rules say why the server is not running.
func TestEngineListenError(t *testing.T) {
	busy, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r := newEngineRig(t, Options{Addr: busy.LocalAddr().String()})
	r.run(t, `/ip tftp add`)
	out := r.run(t, `/ip tftp print detail`)
	if want := fmt.Sprintf(`status="UDP port %d is in use by another program"`, busy.LocalAddr().(*net.UDPAddr).Port); !strings.Contains(out, want) {
		t.Fatalf("print:\n%s", out)
	}
}

// At start the engine applies what the store already holds (a restart).
func TestEngineAppliesStoredRules(t *testing.T) {
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	in := &script.Interp{Ex: ex, Globals: &script.Globals{}}
	con := &script.Console{Sess: &control.Session{User: "admin"}}
	if err := in.Run(context.Background(), con, `/ip tftp add req-filename="^boot" read-only=yes`, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "files"), 0o755)
	os.WriteFile(filepath.Join(dir, "files", "boot.img"), []byte("img"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	e := start(t, ctx, ex, prometheus.NewRegistry(), Options{DataDir: dir, Addr: "127.0.0.1:0"})
	t.Cleanup(cancel)
	a, ok := e.LocalAddr().(*net.UDPAddr)
	if !ok {
		t.Fatal("not listening with a stored rule")
	}
	if got, _, err := testGet(t, a.AddrPort(), "boot.img", "octet"); err != nil || string(got) != "img" {
		t.Fatalf("%q %v", got, err)
	}
	// The watcher alone (no explicit Reconcile) closes the server when the rule goes.
	if err := in.Run(context.Background(), con, `/ip tftp disable 0`, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; e.LocalAddr() != nil; i++ {
		if i > 500 {
			t.Fatal("still listening after the only rule was disabled")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An unencrypted backup is never served: it holds every secret and TFTP has no login
// (a user who may add a rule could otherwise read an admin's backup). An encrypted
// one is served like any file.
func TestEnginePlainBackupRefused(t *testing.T) {
	r := newEngineRig(t, Options{})
	os.WriteFile(filepath.Join(r.dir, "files", "a.backup"), []byte(plainBackupHeader+"/user add name=x password-hash=y\n"), 0o600)
	os.WriteFile(filepath.Join(r.dir, "files", "e.backup"), []byte("# routerd backup aes-sha256\nsealed"), 0o600)
	r.run(t, `/ip tftp add req-filename=.* allow=yes read-only=yes`)
	srv := r.addr(t).AddrPort()
	if _, _, err := testGet(t, srv, "a.backup", "octet"); errCode(err) != errAccess {
		t.Fatalf("plain backup over TFTP: %v", err)
	}
	if got, _, err := testGet(t, srv, "e.backup", "octet"); err != nil || !strings.Contains(string(got), "sealed") {
		t.Fatalf("encrypted backup over TFTP: %q %v", got, err)
	}
}

// Exported private keys (export-certificate's .key and .p12) are refused like plain
// backups: their passphrase only slows offline guessing. Certificates are served.
func TestEngineKeyExportRefused(t *testing.T) {
	r := newEngineRig(t, Options{})
	os.WriteFile(filepath.Join(r.dir, "files", "cert_export_c.key"), []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600)
	os.WriteFile(filepath.Join(r.dir, "files", "k.pem"), []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n"), 0o600)
	os.WriteFile(filepath.Join(r.dir, "files", "cert_export_c.p12"), []byte{0x30, 0x82, 0x01, 0x00, 2, 1, 3}, 0o600)
	os.WriteFile(filepath.Join(r.dir, "files", "cert_export_c.crt"), []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o600)
	r.run(t, `/ip tftp add req-filename=.* allow=yes read-only=yes`)
	srv := r.addr(t).AddrPort()
	for _, n := range []string{"cert_export_c.key", "k.pem", "cert_export_c.p12"} {
		if _, _, err := testGet(t, srv, n, "octet"); errCode(err) != errAccess {
			t.Fatalf("%s over TFTP: %v", n, err)
		}
	}
	if got, _, err := testGet(t, srv, "cert_export_c.crt", "octet"); err != nil || !strings.Contains(string(got), "CERTIFICATE") {
		t.Fatalf("certificate over TFTP: %q %v", got, err)
	}
}

// A pass with nothing changed hands the server nothing; a change hands it once.
func TestResyncUnchangedAppliesNothing(t *testing.T) {
	r := newEngineRig(t, Options{})
	r.run(t, `/ip tftp add req-filename="^boot" read-only=yes`)
	n := r.e.applies.Load()
	for range 3 {
		if err := r.e.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.e.applies.Load(); got != n {
		t.Errorf("%d applies on passes with nothing changed", got-n)
	}
	r.run(t, `/ip tftp set 0 read-only=no`)
	if got := r.e.applies.Load(); got != n+1 {
		t.Errorf("%d applies after one change, want 1", got-n)
	}
}

// A writable rule lets nobody replace or plant a backup or an exported key: the admin's
// next /system backup load (or --store-recover=backup) would trust a planted backup.
func TestEngineBackupWriteRefused(t *testing.T) {
	r := newEngineRig(t, Options{})
	orig := []byte(plainBackupHeader + "/system identity set name=mine\n")
	os.WriteFile(filepath.Join(r.dir, "files", "a.backup"), orig, 0o600)
	os.WriteFile(filepath.Join(r.dir, "files", "c.key"), []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600)
	r.run(t, `/ip tftp add req-filename=.* allow=yes read-only=no`)
	srv := r.addr(t).AddrPort()
	evil := []byte(plainBackupHeader + "/user add name=evil group=full password=evil-pw-1\n")
	for _, n := range []string{"a.backup", "new.backup", "c.key", "planted.rsc"} {
		if err := testPut(t, srv, n, evil, -1); errCode(err) != errAccess {
			t.Errorf("WRQ %s with a backup's text: %v", n, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(r.dir, "files", "a.backup")); string(b) != string(orig) {
		t.Errorf("the backup changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "files", "planted.rsc")); err == nil {
		t.Error("planted.rsc was written")
	}
	if err := testPut(t, srv, "notes.txt", []byte("hello\n"), -1); err != nil {
		t.Errorf("WRQ of a plain file: %v", err)
	}
}

// Under the engine host, a transfer that panics is shown on /ip tftp's items until the
// next pass, the client is told, and the server keeps answering.
func TestEngineTransferPanic(t *testing.T) {
	r := newEngineRig(t, Options{})
	r.run(t, `/ip tftp add req-filename=.* allow=yes`)
	if err := os.WriteFile(filepath.Join(r.dir, "files", "f.bin"), pattern(3000), 0o644); err != nil {
		t.Fatal(err)
	}
	var boom atomic.Bool
	boom.Store(true)
	r.e.srv.setHook(func(where string, p *Packet) {
		if where == "packet" && boom.Load() {
			panic("injected")
		}
	})
	srv := r.addr(t).AddrPort()
	if _, _, err := testGet(t, srv, "f.bin", "octet"); errCode(err) != errUndefined {
		t.Fatalf("the transfer that panics: %v, want ERROR 0", err)
	}
	if got := testutil.ToFloat64(r.e.srv.Metrics.Requests.WithLabelValues("read", "internal-error")); got != 1 {
		t.Errorf("internal-error counted %v", got)
	}
	if n := counterValue(t, r.reg, "routerd_engine_panics_total"); n != 1 {
		t.Errorf("engine panics counted %v, want 1", n)
	}
	boom.Store(false)
	if got, _, err := testGet(t, srv, "f.bin", "octet"); err != nil || len(got) != 3000 {
		t.Fatalf("after the panic: %d bytes, %v", len(got), err)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}
