// Package iketest builds network namespaces and runs a strongSwan charon peer (with
// kernel-libipsec, so it works on kernels without ESP) for the IKE and IPsec tests.
// A clone of the repository has no ../shared: this is the tests' own helper.
package iketest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// NeedRoot skips the test unless it runs as root with the given programs.
func NeedRoot(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
}

// Sh runs a command and fails the test on error.
func Sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// NS creates a network namespace with a unique name (loopback up), removed at cleanup.
func NS(t testing.TB, base string) string {
	t.Helper()
	n := fmt.Sprintf("%s%d", base, os.Getpid())
	exec.Command("ip", "netns", "del", n).Run()
	Sh(t, "ip", "netns", "add", n)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
	Sh(t, "ip", "-n", n, "link", "set", "lo", "up")
	return n
}

// Veth joins two namespaces: ifA with addrA (CIDR) in nsA, ifB with addrB in nsB.
func Veth(t testing.TB, nsA, ifA, addrA, nsB, ifB, addrB string) {
	t.Helper()
	Sh(t, "ip", "link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB)
	for _, x := range [][3]string{{nsA, ifA, addrA}, {nsB, ifB, addrB}} {
		if x[2] != "" {
			Sh(t, "ip", "-n", x[0], "addr", "add", x[2], "dev", x[1])
		}
		Sh(t, "ip", "-n", x[0], "link", "set", x[1], "up")
	}
}

// In runs a command inside a namespace.
func In(ns string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "--"}, args...)...)
}

// ListenIn opens UDP sockets inside a namespace (sockets keep their namespace).
func ListenIn(ns string) func(network string, a *net.UDPAddr) (*net.UDPConn, error) {
	return func(network string, a *net.UDPAddr) (*net.UDPConn, error) {
		var c *net.UDPConn
		err := Do(ns, func() error {
			var err error
			c, err = net.ListenUDP(network, a)
			return err
		})
		return c, err
	}
}

// Do runs f on a thread switched into a namespace.
func Do(ns string, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return err
	}
	defer netns.Set(orig)
	return f()
}

// Charon is a strongSwan daemon in a namespace.
type Charon struct {
	Dir string
	cmd *exec.Cmd
}

// StartCharon runs charon-systemd in ns with a swanctl.conf and loads it; extra lines
// go into strongswan.conf's charon-systemd section (fragment_size = 300, ...), except
// lines starting with "+", which name more plugins to load ("+eap-identity eap-mschapv2").
func StartCharon(t testing.TB, ns, swanctl string, extra ...string) *Charon {
	t.Helper()
	plugins := ""
	var rest []string
	for _, e := range extra {
		if p, ok := strings.CutPrefix(e, "+"); ok {
			plugins += " " + p
		} else {
			rest = append(rest, e)
		}
	}
	extra = rest
	NeedRoot(t, "/usr/sbin/charon-systemd", "swanctl")
	dir := t.TempDir()
	for _, d := range []string{"x509", "x509ca", "x509aa", "x509ocsp", "x509crl", "x509ac", "pubkey", "private", "rsa", "ecdsa", "pkcs8", "pkcs12"} {
		os.MkdirAll(filepath.Join(dir, d), 0o700)
	}
	conf := fmt.Sprintf(`charon-systemd {
  port = 500
  port_nat_t = 4500
  retransmit_tries = 3
  retransmit_timeout = 1.0
%s
  load = random nonce openssl gmp aes sha1 sha2 md5 hmac gcm x509 pubkey pkcs1 pkcs8 pem kdf xcbc cmac kernel-libipsec kernel-netlink socket-default vici updown%s
  filelog { main { path = %s/charon.log
                   flush_line = yes
                   default = 1
                   ike = 2
                   cfg = 2 } }
  plugins { vici { socket = unix://%s/charon.vici } }
}
`, strings.Join(extra, "\n"), plugins, dir, dir)
	os.WriteFile(filepath.Join(dir, "strongswan.conf"), []byte(conf), 0o600)
	os.WriteFile(filepath.Join(dir, "swanctl.conf"), []byte(swanctl), 0o600)
	cmd := In(ns, "env", "STRONGSWAN_CONF="+filepath.Join(dir, "strongswan.conf"), "/usr/sbin/charon-systemd")
	out, _ := os.Create(filepath.Join(dir, "stdout"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Charon{Dir: dir, cmd: cmd}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "charon.log"))
			if len(b) == 0 {
				b, _ = os.ReadFile(filepath.Join(dir, "stdout"))
			}
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("charon.log (tail):\n%s", b)
		}
	})
	for i := 0; i < 50; i++ {
		if _, err := os.Stat(filepath.Join(dir, "charon.vici")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.Swanctl("--load-all", "--file", filepath.Join(dir, "swanctl.conf"))
	if out, _ := c.Swanctl("--list-conns"); strings.TrimSpace(out) == "" {
		t.Fatalf("charon loaded no connection")
	}
	return c
}

// Pid is charon's process id (nsenter and env exec it, so it is the one started).
func (c *Charon) Pid() int { return c.cmd.Process.Pid }

// Stop ends charon (SIGINT, then SIGKILL after 5 s) before the test's cleanup, so that
// another IKE daemon can take its ports and kernel-libipsec's TUN goes.
func (c *Charon) Stop() {
	if c.cmd.ProcessState != nil {
		return
	}
	c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// Swanctl runs a swanctl command against this charon.
func (c *Charon) Swanctl(args ...string) (string, error) {
	full := append([]string{args[0], "--uri", "unix://" + c.Dir + "/charon.vici"}, args[1:]...)
	out, err := exec.Command("swanctl", full...).CombinedOutput()
	return string(out), err
}

// Log returns charon's log.
func (c *Charon) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "charon.log"))
	return string(b)
}

// WaitFor polls f until it is true or the timeout passes.
func WaitFor(timeout time.Duration, f func() bool) bool {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		if f() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return f()
}
