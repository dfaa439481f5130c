package usermanager

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// radclientLoad sends n Access-Requests for user1 with radclient, 32 in flight, the
// password in attribute pw (User-Password: PAP, CHAP-Password: CHAP), and fails unless
// all were accepted.
func radclientLoad(b *testing.B, addr, pw string, n int) {
	b.Helper()
	cmd := exec.Command("radclient", "-q", "-s", "-c", fmt.Sprint(n), "-p", "32", "-r", "3", "-t", "5", addr, "auth", "test")
	cmd.Stdin = strings.NewReader("User-Name = user1\n" + pw + " = password\nMessage-Authenticator = 0x00\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("Accepted      : %d", n)) {
		b.Fatalf("radclient: %v\n%s", err, out)
	}
}

// startFreeRADIUS runs Debian's FreeRADIUS on 127.0.0.1:port with client secret test and
// user1/password (PAP), as the baseline.
func startFreeRADIUS(b *testing.B, port int) {
	b.Helper()
	if _, err := exec.LookPath("freeradius"); err != nil {
		b.Skip("freeradius not installed")
	}
	dir := b.TempDir()
	if out, err := exec.Command("cp", "-rL", "/etc/freeradius/3.0/.", dir).CombinedOutput(); err != nil {
		b.Fatalf("%v %s", err, out)
	}
	edit := func(name string, f func(string) string) {
		p := filepath.Join(dir, name)
		s, _ := os.ReadFile(p)
		os.WriteFile(p, []byte(f(string(s))), 0o600)
	}
	edit("radiusd.conf", func(s string) string {
		return regexp.MustCompile(`(?m)^\s*(user|group) = freerad`).ReplaceAllString(s, "#")
	})
	ports := []string{fmt.Sprint(port), fmt.Sprint(port + 1)}
	edit("sites-enabled/default", func(s string) string {
		s = regexp.MustCompile(`(?m)^(\s*)ipaddr = \*`).ReplaceAllString(s, "${1}ipaddr = 127.0.0.1")
		s = regexp.MustCompile(`(?m)^(\s*)ipv6addr = ::`).ReplaceAllString(s, "${1}ipv6addr = ::1")
		i := 0
		return regexp.MustCompile(`(?m)^(\s*)port = 0$`).ReplaceAllStringFunc(s, func(m string) string {
			p := ports[i%2]
			i++
			return strings.Replace(m, "0", p, 1)
		})
	})
	os.Remove(filepath.Join(dir, "sites-enabled/inner-tunnel"))
	os.WriteFile(filepath.Join(dir, "mods-enabled/eap"), []byte("eap {\n default_eap_type = mschapv2\n mschapv2 {\n }\n}\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "mods-config/files/authorize"), []byte("user1 Cleartext-Password := \"password\"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "clients.conf"), []byte("client local {\n ipaddr = 127.0.0.1\n secret = test\n}\nclient local6 {\n ipv6addr = ::1\n secret = test\n}\n"), 0o600)
	cmd := exec.Command("freeradius", "-f", "-l", filepath.Join(dir, "log"), "-d", dir)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		out, _ := exec.Command("ss", "-lun").CombinedOutput()
		if strings.Contains(string(out), fmt.Sprintf("127.0.0.1:%d", port)) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log"))
	b.Fatalf("freeradius did not start:\n%s", log)
}

// freePort finds a free UDP port pair on loopback.
func freePort(b *testing.B) int {
	for {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if p < 65000 {
			if d, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 1}); err == nil {
				d.Close()
				return p
			}
		}
	}
}

// BenchmarkPAP: Access-Request/Accept round trips of User Manager and of FreeRADIUS under
// the same radclient load (PAP, 32 in flight), one op per round trip.
//
//	go test -run XXX -bench 'BenchmarkPAP|BenchmarkCHAP' -benchtime 20000x ./control/usermanager/
func BenchmarkPAP(b *testing.B) { benchBeside(b, "User-Password") }

// BenchmarkCHAP: the same with CHAP (CHAP-Password over the Request Authenticator).
func BenchmarkCHAP(b *testing.B) { benchBeside(b, "CHAP-Password") }

func benchBeside(b *testing.B, pw string) {
	if _, err := exec.LookPath("radclient"); err != nil {
		b.Skip("radclient not installed")
	}
	b.Run("usermanager", func(b *testing.B) {
		r := newRig(b)
		r.run(b, referenceSetup+"/user-manager user set user1 shared-users=0\n")
		b.ResetTimer()
		radclientLoad(b, r.e.Addr().String(), pw, b.N)
	})
	b.Run("freeradius", func(b *testing.B) {
		p := freePort(b)
		startFreeRADIUS(b, p)
		b.ResetTimer()
		radclientLoad(b, fmt.Sprintf("127.0.0.1:%d", p), pw, b.N)
	})
}
