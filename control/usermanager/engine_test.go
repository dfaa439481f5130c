package usermanager

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/vendors/microsoft"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/certificate"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/eap"
	rad "github.com/routerd/routerd/radius"
)

type rig struct {
	e   *Engine
	in  *script.Interp
	con *script.Console
	dir string
}

// newRig runs User Manager on loopback ports the kernel picks (whatever the settings say).
func newRig(t testing.TB) *rig {
	t.Helper()
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	h := engine.New(ex, nil)
	h.Register(certificate.New(certificate.Options{DataDir: dir}))
	e := New(Options{Host: "127.0.0.1", Listen: func(a *net.UDPAddr) (*net.UDPConn, error) {
		return net.ListenUDP("udp", &net.UDPAddr{IP: a.IP})
	}})
	h.Register(e)
	h.Start(ctx)
	t.Cleanup(func() { cancel(); h.Stop() })
	return &rig{e: e, in: &script.Interp{Ex: ex, Globals: &script.Globals{}},
		con: &script.Console{Sess: &control.Session{User: "admin"}}, dir: dir}
}

func (r *rig) run(t testing.TB, src string) string {
	t.Helper()
	var b strings.Builder
	if err := r.in.Run(context.Background(), r.con, src, &b); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	if err := r.e.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// referenceSetup is the User Manager part of the reference's EAP road-warrior example.
const referenceSetup = `/user-manager router
add address=127.0.0.1 comment=localhost name=local shared-secret=test
/user-manager
set enabled=yes
/user-manager user
add name=user1 password=password
`

func need(t *testing.T, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Skipf("%s not installed (Debian packages freeradius-utils, eapoltest)", bin)
	}
	return p
}

// radclient sends one request with FreeRADIUS's radclient and returns its output.
func radclient(t *testing.T, addr *net.UDPAddr, kind, secret, attrs string) (string, error) {
	t.Helper()
	// A request that gets no answer costs the tries times the timeout: only the wrong
	// secret's does.
	tries := "3"
	if secret != "test" {
		tries = "1"
	}
	cmd := exec.Command(need(t, "radclient"), "-x", "-r", tries, "-t", "3", addr.String(), kind, secret)
	// RouterOS's default require-message-auth wants one; radclient computes it.
	if !strings.Contains(attrs, "Message-Authenticator") {
		attrs += "Message-Authenticator = 0x00\n"
	}
	cmd.Stdin = strings.NewReader(attrs)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestRadclient: the reference's configuration as written; PAP accepted with the right
// password and refused with a wrong one, CHAP refused with the reason, a request under
// the wrong secret dropped, an unknown user refused; the password never printed.
func TestRadclient(t *testing.T) {
	r := newRig(t)
	r.run(t, referenceSetup)
	a := r.e.Addr()
	if a == nil {
		t.Fatal("not listening")
	}
	out, err := radclient(t, a, "auth", "test", "User-Name = user1\nUser-Password = password\n")
	if err != nil || !strings.Contains(out, "Access-Accept") {
		t.Fatalf("PAP: %v\n%s", err, out)
	}
	out, _ = radclient(t, a, "auth", "test", "User-Name = user1\nUser-Password = wrong\n")
	if !strings.Contains(out, "Access-Reject") {
		t.Fatalf("PAP wrong password:\n%s", out)
	}
	out, _ = radclient(t, a, "auth", "test", "User-Name = nobody\nUser-Password = password\n")
	if !strings.Contains(out, "Access-Reject") {
		t.Fatalf("unknown user:\n%s", out)
	}
	// CHAP (radclient computes CHAP-Password from the password, with the Request
	// Authenticator as the challenge, or the CHAP-Challenge given).
	out, err = radclient(t, a, "auth", "test", "User-Name = user1\nCHAP-Password = password\n")
	if err != nil || !strings.Contains(out, "Access-Accept") {
		t.Fatalf("CHAP: %v\n%s", err, out)
	}
	out, err = radclient(t, a, "auth", "test", "User-Name = user1\nCHAP-Challenge = 0x0123456789abcdef0123\nCHAP-Password = password\n")
	if err != nil || !strings.Contains(out, "Access-Accept") {
		t.Fatalf("CHAP with CHAP-Challenge: %v\n%s", err, out)
	}
	out, _ = radclient(t, a, "auth", "test", "User-Name = user1\nCHAP-Password = wrong\n")
	if !strings.Contains(out, "Access-Reject") {
		t.Fatalf("CHAP wrong password:\n%s", out)
	}
	// MS-CHAPv1 (radclient makes MS-CHAP-Challenge and MS-CHAP-Response from
	// MS-CHAP-Password) checks against the NT hash.
	out, err = radclient(t, a, "auth", "test", "User-Name = user1\nMS-CHAP-Password = password\n")
	if err != nil || !strings.Contains(out, "Access-Accept") {
		t.Fatalf("MS-CHAPv1: %v\n%s", err, out)
	}
	out, _ = radclient(t, a, "auth", "test", "User-Name = user1\nMS-CHAP-Password = wrong\n")
	if !strings.Contains(out, "Access-Reject") || !strings.Contains(out, "E=691") {
		t.Fatalf("MS-CHAPv1 wrong password:\n%s", out)
	}
	before := r.e.resp.Stats.BadAuthenticator.Load()
	out, _ = radclient(t, a, "auth", "wrong-secret", "User-Name = user1\nUser-Password = password\nMessage-Authenticator = 0x00\n")
	if strings.Contains(out, "Access-Accept") || r.e.resp.Stats.BadAuthenticator.Load() == before {
		t.Fatalf("wrong secret answered or not counted:\n%s", out)
	}
	// Accounting start and stop show up as a session.
	out, err = radclient(t, r.e.AcctAddr(), "acct", "test", "User-Name = user1\nAcct-Status-Type = Start\nAcct-Session-Id = S1\nFramed-IP-Address = 192.168.77.2\n")
	if err != nil || !strings.Contains(out, "Accounting-Response") {
		t.Fatalf("accounting: %v\n%s", err, out)
	}
	if s := r.run(t, `/user-manager session print detail`); !strings.Contains(s, "192.168.77.2") || !strings.Contains(s, `status="start"`) {
		t.Fatalf("session: %q", s)
	}
	// shared-users=1 and one session open: a second login is refused.
	out, _ = radclient(t, a, "auth", "test", "User-Name = user1\nUser-Password = password\n")
	if !strings.Contains(out, "Access-Reject") {
		t.Fatalf("shared-users=1 with a session open:\n%s", out)
	}
	radclient(t, r.e.AcctAddr(), "acct", "test", "User-Name = user1\nAcct-Status-Type = Stop\nAcct-Session-Id = S1\nAcct-Session-Time = 42\nAcct-Terminate-Cause = Lost-Carrier\n")
	if s := r.run(t, `/user-manager session print detail`); !strings.Contains(s, `terminate-cause="lost-carrier"`) || !strings.Contains(s, "last-accounting-packet=") {
		t.Fatalf("stopped session: %q", s)
	}
	out, _ = radclient(t, a, "auth", "test", "User-Name = user1\nUser-Password = password\n")
	if !strings.Contains(out, "Access-Accept") {
		t.Fatalf("after the stop:\n%s", out)
	}
	// Attributes of the reference's static address example.
	r.run(t, `/user-manager user set [find name="user1"] attributes=Framed-IP-Address:192.168.77.100 shared-users=1`)
	out, _ = radclient(t, a, "auth", "test", "User-Name = user1\nUser-Password = password\n")
	if !strings.Contains(out, "Framed-IP-Address = 192.168.77.100") {
		t.Fatalf("attributes:\n%s", out)
	}
	// The group decides the methods.
	r.run(t, `/user-manager user group add name=eaponly outer-auths=eap-mschap2
/user-manager user set user1 group=eaponly`)
	out, _ = radclient(t, a, "auth", "test", "User-Name = user1\nUser-Password = password\n")
	if !strings.Contains(out, "Access-Reject") {
		t.Fatalf("pap outside outer-auths:\n%s", out)
	}
	out, _ = radclient(t, a, "auth", "test", "User-Name = user1\nCHAP-Password = password\n")
	if !strings.Contains(out, "Access-Reject") {
		t.Fatalf("chap outside outer-auths:\n%s", out)
	}
	r.run(t, `/user-manager user group set eaponly outer-auths=eap-mschap2,chap`)
	out, _ = radclient(t, a, "auth", "test", "User-Name = user1\nCHAP-Password = password\n")
	if !strings.Contains(out, "Access-Accept") {
		t.Fatalf("chap in outer-auths:\n%s", out)
	}
	for _, cmd := range []string{`/user-manager user print detail`, `/user-manager user export`, `/user-manager user print detail show-sensitive`} {
		if s := r.run(t, cmd); strings.Contains(s, "password=password") || strings.Contains(s, "nt:") {
			t.Fatalf("%s shows the password:\n%s", cmd, s)
		}
	}
	if s := r.run(t, `/user-manager router print`); strings.Contains(s, "test") && !strings.Contains(s, "localhost") {
		t.Fatalf("router print:\n%s", s)
	}
}

// TestMSCHAPv2: an MS-CHAP2-Response after RFC 2759 9.2's example gets the
// authenticator response the RFC gives and MPPE keys; a wrong one MS-CHAP-Error.
func TestMSCHAPv2(t *testing.T) {
	r := newRig(t)
	r.run(t, referenceSetup+"\n/user-manager user add name=User password=clientPass\n")
	unhex := func(s string) []byte { var b []byte; fmt.Sscanf(s, "%x", &b); return b }
	ac := unhex("5B5D7C7D7B3F2F3E3C2C602132262628")
	pc := unhex("21402324255E262A28295F2B3A337C7E")
	nt := unhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
	var sent *radius.Packet
	ask := func(nt []byte) *radius.Packet {
		p := radius.New(radius.CodeAccessRequest, []byte("test"))
		rfc2865.UserName_SetString(p, "User")
		microsoft.MSCHAPChallenge_Add(p, ac)
		resp := append(append(append([]byte{7, 0}, pc...), make([]byte, 8)...), nt...)
		microsoft.MSCHAP2Response_Add(p, resp)
		sent = p
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q, err := radius.Exchange(ctx, p, r.e.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	r.run(t, `/user-manager set require-message-auth=no`)
	q := ask(nt)
	if q.Code != radius.CodeAccessAccept {
		t.Fatalf("got %v", q.Code)
	}
	if s := microsoft.MSCHAP2Success_Get(q); !bytes.Equal(s[1:], []byte("S=407A5589115FD0D6209F510FE9C04566932CDA56")) {
		t.Fatalf("MS-CHAP2-Success %q", s)
	}
	send, recv := eap.MPPEKeys(eap.NTHash("clientPass"), nt)
	if got := microsoft.MSMPPERecvKey_Get(q, sent); !bytes.Equal(got, recv) {
		t.Fatalf("MS-MPPE-Recv-Key %x, want %x", got, recv)
	}
	if got := microsoft.MSMPPESendKey_Get(q, sent); !bytes.Equal(got, send) {
		t.Fatalf("MS-MPPE-Send-Key %x, want %x", got, send)
	}
	bad := append([]byte(nil), nt...)
	bad[0] ^= 1
	if q := ask(bad); q.Code != radius.CodeAccessReject || len(microsoft.MSCHAPError_Get(q)) == 0 {
		t.Fatalf("wrong response: %v", q.Code)
	}
}

// TestEapolTest: wpa_supplicant's eapol_test runs EAP-MSCHAPv2 against User Manager and
// checks the MPPE keys against the MSK it derived itself; a wrong password fails.
func TestEapolTest(t *testing.T) {
	bin := need(t, "eapol_test")
	r := newRig(t)
	r.run(t, referenceSetup)
	a := r.e.Addr()
	try := func(pw string) (string, error) {
		conf := filepath.Join(r.dir, "eapol.conf")
		os.WriteFile(conf, []byte(fmt.Sprintf("network={\n key_mgmt=IEEE8021X\n eap=MSCHAPV2\n identity=\"user1\"\n password=%q\n}\n", pw)), 0o600)
		cmd := exec.Command(bin, "-c", conf, "-a", a.IP.String(), "-p", fmt.Sprint(a.Port), "-s", "test", "-t", "20", "-r", "0")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := try("password")
	if err != nil || !strings.Contains(out, "MPPE keys OK: 1  mismatch: 0") || !strings.HasSuffix(strings.TrimSpace(out), "SUCCESS") {
		t.Fatalf("eapol_test: %v\n%s", err, out)
	}
	out, err = try("wrong")
	if err == nil || strings.HasSuffix(strings.TrimSpace(out), "SUCCESS") {
		t.Fatalf("wrong password succeeded:\n%s", out)
	}
	if s := r.run(t, `/user-manager monitor print`); !strings.Contains(s, "eap-mschap2") {
		t.Fatalf("monitor:\n%s", s)
	}
}

// TestExportImportKeepsPassword: export show-sensitive carries the user's password as
// password= (as RouterOS's does), which /import restores, so the re-imported user logs
// in (PAP and CHAP against radclient); a plain export and print leave it out and the
// export says so; no export carries a hash.
func TestExportImportKeepsPassword(t *testing.T) {
	r := newRig(t)
	r.con.Sess.ShowSensitive = true
	r.run(t, referenceSetup+"/user-manager user add name=user2 password=UserPass55\n")
	plain := r.run(t, `/export`)
	if strings.Contains(plain, "UserPass55") || strings.Contains(plain, "nt:") || !strings.Contains(plain, "password hidden") {
		t.Fatalf("plain export:\n%s", plain)
	}
	for _, cmd := range []string{`/user-manager user print detail`, `/user-manager user print detail without-paging`} {
		if s := r.run(t, cmd); strings.Contains(s, "UserPass55") || strings.Contains(s, "nt:") {
			t.Fatalf("%s shows the password:\n%s", cmd, s)
		}
	}
	full := r.run(t, `/export show-sensitive`)
	if !strings.Contains(full, "password=UserPass55") || strings.Contains(full, "nt:") || strings.Contains(full, "password-hash") || strings.Contains(full, "hidden") {
		t.Fatalf("export show-sensitive:\n%s", full)
	}
	if s := r.run(t, `/user-manager user print detail show-sensitive`); !strings.Contains(s, `password="UserPass55"`) || strings.Contains(s, "nt:") {
		t.Fatalf("print show-sensitive:\n%s", s)
	}
	// Without the sensitive policy show-sensitive shows nothing secret.
	r.con.Sess.ShowSensitive = false
	for _, cmd := range []string{`/export show-sensitive`, `/user-manager user print detail show-sensitive`, `:put [/user-manager user get user2]`} {
		if s := r.run(t, cmd); strings.Contains(s, "UserPass55") || strings.Contains(s, "nt:") {
			t.Fatalf("%s without the sensitive policy:\n%s", cmd, s)
		}
	}

	r2 := newRig(t)
	r2.run(t, full)
	a := r2.e.Addr()
	if a == nil {
		t.Fatal("imported User Manager is not listening")
	}
	for _, u := range [][2]string{{"user1", "password"}, {"user2", "UserPass55"}} {
		for _, attr := range []string{"User-Password", "CHAP-Password"} {
			out, err := radclient(t, a, "auth", "test", "User-Name = "+u[0]+"\n"+attr+" = "+u[1]+"\n")
			if err != nil || !strings.Contains(out, "Access-Accept") {
				t.Fatalf("%s %s after export+import: %v\n%s", u[0], attr, err, out)
			}
		}
	}
	out, _ := radclient(t, a, "auth", "test", "User-Name = user2\nUser-Password = wrong\n")
	if !strings.Contains(out, "Access-Reject") {
		t.Fatalf("wrong password after import:\n%s", out)
	}
}

// TestHashOnlyUser: a user stored before passwords were kept (password-hash= only, as an
// older export or store has it) still logs in with PAP and MS-CHAPv1; CHAP is refused
// and print says why; the hash leaves only in a backup; password= replaces it.
func TestHashOnlyUser(t *testing.T) {
	r := newRig(t)
	r.con.Sess.ShowSensitive = true
	hash := "nt:" + fmt.Sprintf("%x", eap.NTHash("OldPass1"))
	r.run(t, referenceSetup+"/user-manager user add name=old password-hash="+hash+"\n")
	a := r.e.Addr()
	for _, attr := range []string{"User-Password", "MS-CHAP-Password"} {
		out, err := radclient(t, a, "auth", "test", "User-Name = old\n"+attr+" = OldPass1\n")
		if err != nil || !strings.Contains(out, "Access-Accept") {
			t.Fatalf("%s with the hash only: %v\n%s", attr, err, out)
		}
	}
	out, _ := radclient(t, a, "auth", "test", "User-Name = old\nCHAP-Password = OldPass1\n")
	if !strings.Contains(out, "Access-Reject") {
		t.Fatalf("CHAP with the hash only:\n%s", out)
	}
	if s := r.run(t, `/user-manager user print detail where name=old`); !strings.Contains(s, "set again") {
		t.Fatalf("print does not say CHAP needs the password:\n%s", s)
	}
	for _, cmd := range []string{`/export show-sensitive`, `/user-manager user print detail show-sensitive`, `:put [/user-manager user get old]`} {
		if s := r.run(t, cmd); strings.Contains(s, "nt:") {
			t.Fatalf("%s shows the hash:\n%s", cmd, s)
		}
	}
	backup, err := r.in.Ex.Export(context.Background(), nil, UserPath, control.ExportOptions{ShowSensitive: true, Backup: true})
	if err != nil || !strings.Contains(backup, "password-hash="+hash) {
		t.Fatalf("backup export does not carry the hash: %v\n%s", err, backup)
	}
	if err := r.in.Run(context.Background(), r.con, "/user-manager user set old password=x password-hash="+hash, &strings.Builder{}); err == nil {
		t.Fatal("password and password-hash together accepted")
	}
	r.run(t, `/user-manager user set old password=NewPass2`)
	backup, _ = r.in.Ex.Export(context.Background(), nil, UserPath, control.ExportOptions{ShowSensitive: true, Backup: true})
	if strings.Contains(backup, "nt:") {
		t.Fatalf("the old hash outlived the new password:\n%s", backup)
	}
	out, err = radclient(t, a, "auth", "test", "User-Name = old\nCHAP-Password = NewPass2\n")
	if err != nil || !strings.Contains(out, "Access-Accept") {
		t.Fatalf("CHAP after password= : %v\n%s", err, out)
	}
	out, _ = radclient(t, a, "auth", "test", "User-Name = old\nUser-Password = OldPass1\n")
	if !strings.Contains(out, "Access-Reject") {
		t.Fatalf("old password still accepted:\n%s", out)
	}
}

// TestDroppedCounted: junk sent to the authentication port is counted in the metrics,
// every datagram, although the log shows it once.
func TestDroppedCounted(t *testing.T) {
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	reg := prometheus.NewRegistry()
	h := engine.New(ex, reg)
	e := New(Options{Host: "127.0.0.1", Listen: func(a *net.UDPAddr) (*net.UDPConn, error) {
		return net.ListenUDP("udp", &net.UDPAddr{IP: a.IP})
	}})
	h.Register(e)
	ctx, cancel := context.WithCancel(context.Background())
	h.Start(ctx)
	t.Cleanup(func() { cancel(); h.Stop() })
	r := &rig{e: e, in: &script.Interp{Ex: ex, Globals: &script.Globals{}}, con: &script.Console{Sess: &control.Session{User: "admin"}}, dir: dir}
	r.run(t, referenceSetup)
	c, err := net.DialUDP("udp", nil, e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	junk := []byte{1, 1, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 200, 0, 0, 0, 0, 0, 0, 0, 0}
	for range 50 {
		c.Write(junk)
	}
	want := `
# HELP routerd_usermanager_dropped_requests_total RADIUS datagrams User Manager dropped without an answer, by reason.
# TYPE routerd_usermanager_dropped_requests_total counter
routerd_usermanager_dropped_requests_total{reason="bad-authenticator"} 0
routerd_usermanager_dropped_requests_total{reason="malformed"} 50
routerd_usermanager_dropped_requests_total{reason="unknown-client"} 0
`
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := testutil.GatherAndCompare(reg, strings.NewReader(want), "routerd_usermanager_dropped_requests_total")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSessionsBounded: a NAS that starts sessions and never stops them does not grow
// the session table past its bound (it only dropped ended sessions).
func TestSessionsBounded(t *testing.T) {
	e := New(Options{})
	for i := 0; i < maxSessions+500; i++ {
		p := radius.New(radius.CodeAccountingRequest, []byte("s"))
		rfc2865.UserName_SetString(p, "u")
		rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType_Value_Start)
		rfc2866.AcctSessionID_SetString(p, fmt.Sprint("S", i))
		e.acct(context.Background(), &rad.Request{Packet: p, NAS: "nas"})
	}
	if n := len(e.sessions); n > maxSessions {
		t.Fatalf("%d sessions kept, bound %d", n, maxSessions)
	}
}

// TestPortHeldStatus: with the RADIUS port held by another program, /user-manager says
// so once, as /ip service does (QA: "user-manager: user-manager: cannot listen on UDP
// 1812: listen udp [::]:1812: ..." named the engine twice and the port twice).
func TestPortHeldStatus(t *testing.T) {
	busy, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ex := controltest.NewIn(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	h := engine.New(ex, nil)
	h.Register(New(Options{Host: "127.0.0.1", Listen: func(a *net.UDPAddr) (*net.UDPConn, error) {
		return net.ListenUDP("udp", busy.LocalAddr().(*net.UDPAddr))
	}}))
	h.Start(ctx)
	t.Cleanup(func() { cancel(); h.Stop() })
	in := &script.Interp{Ex: ex, Globals: &script.Globals{}}
	con := &script.Console{Sess: &control.Session{User: "admin"}}
	if err := in.Run(ctx, con, "/user-manager set enabled=yes", &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	want := "not applied: user-manager: UDP port 1812 is in use by another program"
	var got string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		var b strings.Builder
		if err := in.Run(ctx, con, "/user-manager print", &b); err != nil {
			t.Fatal(err)
		}
		if got = b.String(); strings.Contains(got, "status: "+want+"\n") {
			return
		}
	}
	t.Errorf("print, want status %q:\n%s", want, got)
}
