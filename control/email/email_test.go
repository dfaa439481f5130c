package email

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/eventlog"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/system"
)

// python is Debian's interpreter, which has python3-aiosmtpd (another python3 may come
// first in PATH).
const python = "/usr/bin/python3"

type rig struct {
	t   *testing.T
	dir string
	ex  *control.Executor
	in  *script.Interp
	c   *script.Console
	e   *Engine
	log *eventlog.Buffer
}

func newRig(t *testing.T, opts Options) *rig {
	t.Helper()
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	in := &script.Interp{Ex: ex, Globals: &script.Globals{}}
	log := eventlog.New(0)
	system.Register(ex, in, dir, log, time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	opts.DataDir = dir
	opts.Timeout = 20 * time.Second
	e, err := Start(ctx, ex, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, dir: dir, ex: ex, in: in, e: e, log: log,
		c: &script.Console{Sess: &control.Session{User: "admin"}}}
}

func (r *rig) run(src string) (string, error) {
	var out strings.Builder
	err := r.in.Run(context.Background(), r.c, src, &out)
	return out.String(), err
}

func (r *rig) must(src string) string {
	r.t.Helper()
	out, err := r.run(src)
	if err != nil {
		r.t.Fatalf("%s: %v", src, err)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func needAiosmtpd(t *testing.T) {
	t.Helper()
	if err := exec.Command(python, "-c", "import aiosmtpd").Run(); err != nil {
		t.Skip("python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd)")
	}
}

// waitPort waits until something accepts on 127.0.0.1:port.
func waitPort(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("SMTP server on port %d did not start", port)
}

// startMailbox runs aiosmtpd with its Mailbox handler (a maildir) on 127.0.0.1:port.
func startMailbox(t *testing.T, port int, extra ...string) string {
	t.Helper()
	needAiosmtpd(t)
	md := filepath.Join(t.TempDir(), "maildir")
	args := append([]string{"-m", "aiosmtpd", "-n", "-l", "127.0.0.1:" + strconv.Itoa(port)}, extra...)
	args = append(args, "-c", "aiosmtpd.handlers.Mailbox", md)
	cmd := exec.Command(python, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("aiosmtpd: %s", stderr.String())
		}
	})
	waitPort(t, port)
	return md
}

// received returns the messages in maildir md.
func received(t *testing.T, md string) []*mail.Message {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(md, "new"))
	var out []*mail.Message
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(md, "new", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// parts reads a multipart message into its parts' bodies, by file name ("" for the text).
func parts(t *testing.T, m *mail.Message) map[string][]byte {
	t.Helper()
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: %v", m.Header.Get("Content-Type"), err)
	}
	out := map[string][]byte{}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		if p.Header.Get("Content-Transfer-Encoding") == "base64" {
			raw, _ := io.ReadAll(p)
			b, err = decodeB64(raw)
			if err != nil {
				t.Fatal(err)
			}
		} else {
			b, _ = io.ReadAll(p)
		}
		out[p.FileName()] = b
	}
}

func decodeB64(raw []byte) ([]byte, error) {
	return io.ReadAll(newB64(raw))
}

// TestBackupByMail runs the scheduler page's backup-by-mail example as written (server
// and sender mapped to a local aiosmtpd) and checks the message that arrives: the
// subject from the identity and the backup attached byte for byte.
func TestBackupByMail(t *testing.T) {
	port := freePort(t)
	md := startMailbox(t, port)
	r := newRig(t, Options{})
	r.must(`/system identity set name=edge1`)
	// The manual: /tool e-mail set server=159.148.147.198 from=SysAdmin@host.com
	r.must(`/tool e-mail set server=127.0.0.1 port=` + strconv.Itoa(port) + ` from=SysAdmin@host.com`)
	r.c.Path = "/system/script"
	r.must(`add name=e-backup source={/system backup
save name=email; /tool e-mail send to="root@host.com" subject=([/system
identity get name] . " Backup") file=email.backup}`)
	r.c.Path = ""
	r.must(`/system script run e-backup`)
	r.e.Wait()
	if s := r.e.LastStatus(); s != "sent" {
		t.Fatalf("last-status %q", s)
	}
	if out := r.must(`:put [/tool e-mail get last-status]`); out != "sent\n" {
		t.Errorf("get last-status: %q", out)
	}
	msgs := received(t, md)
	if len(msgs) != 1 {
		t.Fatalf("%d messages received", len(msgs))
	}
	m := msgs[0]
	if got := m.Header.Get("Subject"); got != "edge1 Backup" {
		t.Errorf("subject %q", got)
	}
	if got := m.Header.Get("To"); got != "root@host.com" {
		t.Errorf("to %q", got)
	}
	if got := m.Header.Get("From"); got != "SysAdmin@host.com" {
		t.Errorf("from %q", got)
	}
	want, err := os.ReadFile(filepath.Join(r.dir, "files", "email.backup"))
	if err != nil {
		t.Fatal(err)
	}
	got := parts(t, m)
	if !bytes.Equal(got["email.backup"], want) || len(want) == 0 {
		t.Errorf("attachment email.backup: %d bytes, backup file %d bytes", len(got["email.backup"]), len(want))
	}
}

// TestServerByName: a server given by name is resolved through /ip dns (a static entry
// here), as RouterOS resolves it; the machine's resolver never heard of the name. A
// name nothing answers says so in last-status.
func TestServerByName(t *testing.T) {
	port := freePort(t)
	md := startMailbox(t, port)
	r := newRig(t, Options{})
	r.must(`/ip dns static add name=smtp.routerd.test address=127.0.0.1`)
	r.must(`/tool e-mail set server=smtp.routerd.test port=` + strconv.Itoa(port) + ` from=r@example.net`)
	r.must(`/tool e-mail send to=a@b.c subject=by-name`)
	r.e.Wait()
	if s := r.e.LastStatus(); s != "sent" {
		t.Fatalf("last-status %q", s)
	}
	if msgs := received(t, md); len(msgs) != 1 || msgs[0].Header.Get("Subject") != "by-name" {
		t.Errorf("%d messages received", len(msgs))
	}
	r.must(`/tool e-mail send server=nx.routerd.test to=a@b.c subject=x`)
	r.e.Wait()
	if s := r.e.LastStatus(); !strings.Contains(s, "cannot resolve server nx.routerd.test") {
		t.Errorf("last-status of an unknown name: %q", s)
	}
}

// TestSendErrors: bad arguments fail at once and change nothing; a server that does not
// answer fails in the background, into /log and last-status.
func TestSendErrors(t *testing.T) {
	r := newRig(t, Options{})
	for _, tc := range []struct{ src, want string }{
		{`/tool e-mail send to=a@b.c`, "failure: no SMTP server configured"},
		{`/tool e-mail send server=127.0.0.1 subject=x`, "missing value for argument to"},
		{`/tool e-mail send server=127.0.0.1 to="not an address"`, "invalid value for argument to: not an address"},
		{`/tool e-mail send server=127.0.0.1 to=a@b.c file=nosuch.backup`, "failure: no such file nosuch.backup"},
		{`/tool e-mail send server=127.0.0.1 to=a@b.c file=../routerd.db`, "failure: no such file ../routerd.db"},
		{`/tool e-mail set tls=maybe`, "input does not match any value of tls"},
	} {
		if _, err := r.run(tc.src); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v; want %q", tc.src, err, tc.want)
		}
	}
	// An exported private key (or a backup) is not mailed for a user without the
	// sensitive policy.
	os.MkdirAll(filepath.Join(r.dir, "files"), 0o700)
	os.WriteFile(filepath.Join(r.dir, "files", "cert_export_c.key"), []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600)
	os.WriteFile(filepath.Join(r.dir, "files", "a.backup"), []byte(control.BackupHeader+"/user add name=x\n"), 0o600)
	r.c.Sess.Policies = map[string]bool{"read": true, "write": true, "test": true, "policy": true}
	for _, f := range []string{"cert_export_c.key", "a.backup"} {
		src := `/tool e-mail send server=127.0.0.1 to=a@b.c file=` + f
		if _, err := r.run(src); err == nil || err.Error() != "not enough permissions (9)" {
			t.Errorf("%s without sensitive: %v", src, err)
		}
	}
	r.c.Sess.Policies = nil
	port := freePort(t) // nothing listens there
	r.must(`/tool e-mail send server=127.0.0.1 port=` + strconv.Itoa(port) + ` to=a@b.c subject=x`)
	r.e.Wait()
	if s := r.e.LastStatus(); !strings.HasPrefix(s, "failed: connect to 127.0.0.1:") {
		t.Errorf("last-status %q", s)
	}
}

// TestStartTLSAuth sends through aiosmtpd requiring STARTTLS and AUTH (PLAIN), with the
// server's certificate verified; a wrong password fails into last-status, and the
// password shows in print only with show-sensitive.
func TestStartTLSAuth(t *testing.T) {
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) { testStartTLSAuth(t, mech) })
	}
}

func testStartTLSAuth(t *testing.T, mech string) {
	needAiosmtpd(t)
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600)
	md := filepath.Join(dir, "maildir")
	port := freePort(t)
	cmd := exec.Command(python, "-c", authServer, strconv.Itoa(port), md,
		filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), "mailer", "s3cret", mech)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("server: %s", stderr.String())
		}
	})
	if l, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || l != "ready\n" {
		t.Fatalf("server: %q %v %s", l, err, stderr.String())
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	r := newRig(t, Options{RootCAs: pool})
	r.must(`/tool e-mail set server=127.0.0.1 port=` + strconv.Itoa(port) + ` tls=starttls from="Router <r@example.net>" user=mailer password=wrong`)
	r.must(`/tool e-mail send to=ops@example.net cc=audit@example.net subject="nightly" body="line1\nline2"`)
	r.e.Wait()
	if s := r.e.LastStatus(); !strings.HasPrefix(s, "failed: AUTH") {
		t.Errorf("wrong password: last-status %q", s)
	}
	r.must(`/tool e-mail set password=s3cret`)
	if out := r.must(`/tool e-mail print`); strings.Contains(out, "s3cret") {
		t.Errorf("print shows the password:\n%s", out)
	}
	r.c.Sess.ShowSensitive = true
	if out := r.must(`/tool e-mail print show-sensitive`); !strings.Contains(out, "s3cret") {
		t.Errorf("print show-sensitive hides the password:\n%s", out)
	}
	r.must(`/tool e-mail send to=ops@example.net cc=audit@example.net subject="nightly" body="line1\nline2"`)
	r.e.Wait()
	if s := r.e.LastStatus(); s != "sent" {
		t.Fatalf("last-status %q", s)
	}
	msgs := received(t, md)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if got := msgs[0].Header.Get("Cc"); got != "audit@example.net" {
		t.Errorf("cc %q", got)
	}
	// The maildir keeps line ends as LF.
	if got := strings.ReplaceAll(string(parts(t, msgs[0])[""]), "\r\n", "\n"); got != "line1\nline2\n" {
		t.Errorf("body %q", got)
	}
	// The server recorded both recipients and that the session was under TLS with AUTH.
	b, _ := os.ReadFile(filepath.Join(dir, "maildir.log"))
	if !strings.Contains(string(b), "ops@example.net,audit@example.net tls=True auth=mailer") {
		t.Errorf("server log: %q", b)
	}
}

// authServer is aiosmtpd requiring STARTTLS before AUTH, and AUTH before MAIL.
const authServer = `
import sys, ssl
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword
port, md, cert, key, user, pw, mechs = sys.argv[1:]
excl = [m for m in ("PLAIN", "LOGIN") if m not in mechs.split(",")]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
def auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == pw.encode()
    return AuthResult(success=ok, handled=False, auth_data=data)
class H(Mailbox):
    async def handle_DATA(self, server, session, envelope):
        with open(md + ".log", "a") as f:
            f.write("%s tls=%s auth=%s\n" % (",".join(envelope.rcpt_tos), session.ssl is not None,
                    session.auth_data.login.decode() if session.authenticated else None))
        return await super().handle_DATA(server, session, envelope)
c = Controller(H(md), hostname="127.0.0.1", port=int(port), tls_context=ctx, require_starttls=True,
               authenticator=auth, auth_require_tls=True, auth_required=True,
               auth_exclude_mechanism=excl)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
`

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// tlsServer is aiosmtpd speaking SMTP inside TLS from the first byte (SMTPS, port 465
// style), requiring AUTH.
const tlsServer = `
import sys, ssl
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword
port, md, cert, key, user, pw = sys.argv[1:]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
def auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == pw.encode()
    return AuthResult(success=ok, handled=False, auth_data=data)
class H(Mailbox):
    async def handle_DATA(self, server, session, envelope):
        with open(md + ".log", "a") as f:
            f.write("%s tls=%s\n" % (",".join(envelope.rcpt_tos), server.transport.get_extra_info("ssl_object") is not None))
        return await super().handle_DATA(server, session, envelope)
c = Controller(H(md), hostname="127.0.0.1", port=int(port), ssl_context=ctx,
               authenticator=auth, auth_require_tls=False, auth_required=True)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
`

// TestImplicitTLS sends with tls=yes to an SMTPS server (TLS from the first byte, the
// certificate verified, AUTH) with a file attached; the server sees the session under TLS.
func TestImplicitTLS(t *testing.T) {
	needAiosmtpd(t)
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600)
	md := filepath.Join(dir, "maildir")
	port := freePort(t)
	cmd := exec.Command(python, "-c", tlsServer, strconv.Itoa(port), md,
		filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), "mailer", "s3cret")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("server: %s", stderr.String())
		}
	})
	if l, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || l != "ready\n" {
		t.Fatalf("server: %q %v %s", l, err, stderr.String())
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	r := newRig(t, Options{RootCAs: pool})
	os.MkdirAll(filepath.Join(r.dir, "files"), 0o700)
	os.WriteFile(filepath.Join(r.dir, "files", "report.txt"), []byte("uptime 3d\n"), 0o600)
	r.must(`/tool e-mail set server=127.0.0.1 port=` + strconv.Itoa(port) + ` tls=yes from=r@example.net user=mailer password=s3cret`)
	r.must(`/tool e-mail send to=ops@example.net subject="report" body="see attached" file=report.txt`)
	r.e.Wait()
	if s := r.e.LastStatus(); s != "sent" {
		t.Fatalf("last-status %q", s)
	}
	msgs := received(t, md)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if got := string(parts(t, msgs[0])["report.txt"]); got != "uptime 3d\n" {
		t.Errorf("attachment %q", got)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "maildir.log"))
	if !strings.Contains(string(b), "ops@example.net tls=True") {
		t.Errorf("server log: %q", b)
	}
}
