package tftp

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

const (
	interopServer = "198.18.69.1"
	interopClient = "198.18.69.2"
)

// nsTopo is a server namespace and a client namespace joined by a veth pair.
type nsTopo struct {
	srv, cli string
}

func need(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian: tftp-hpa, atftp, curl, iproute2, util-linux)", tool)
		}
	}
}

func sh(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newNSTopo(t testing.TB) *nsTopo {
	t.Helper()
	need(t, "ip", "nsenter")
	p := fmt.Sprintf("tftp%d", os.Getpid())
	tp := &nsTopo{srv: p + "s", cli: p + "c"}
	for _, n := range []string{tp.srv, tp.cli} {
		sh(t, "ip", "netns", "add", n)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
		sh(t, "ip", "-n", n, "link", "set", "lo", "up")
	}
	a, b := fmt.Sprintf("tf%da", os.Getpid()), fmt.Sprintf("tf%db", os.Getpid())
	sh(t, "ip", "link", "add", a, "netns", tp.srv, "type", "veth", "peer", "name", b, "netns", tp.cli)
	sh(t, "ip", "-n", tp.srv, "addr", "add", interopServer+"/24", "dev", a)
	sh(t, "ip", "-n", tp.cli, "addr", "add", interopClient+"/24", "dev", b)
	sh(t, "ip", "-n", tp.srv, "addr", "add", "2001:db8:69::1/64", "dev", a, "nodad")
	sh(t, "ip", "-n", tp.cli, "addr", "add", "2001:db8:69::2/64", "dev", b, "nodad")
	sh(t, "ip", "-n", tp.srv, "link", "set", a, "up")
	sh(t, "ip", "-n", tp.cli, "link", "set", b, "up")
	return tp
}

// listenIn opens UDP sockets inside namespace name; a socket keeps its namespace after
// the thread that made it moves back.
func listenIn(name string) func(*net.UDPAddr) (*net.UDPConn, error) {
	return func(a *net.UDPAddr) (*net.UDPConn, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return nil, err
		}
		defer orig.Close()
		h, err := netns.GetFromName(name)
		if err != nil {
			return nil, err
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			return nil, err
		}
		defer netns.Set(orig)
		return net.ListenUDP("udp", a)
	}
}

// client runs a command in the client namespace from dir and returns its output.
func (tp *nsTopo) client(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + tp.cli, "--"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The server listens on every address (":69", as routerd does) inside the server
// namespace, and Debian's clients fetch and store files through it.
func TestInterop(t *testing.T) {
	need(t, "tftp", "atftp", "curl")
	tp := newNSTopo(t)
	r := newEngineRig(t, Options{Addr: ":69", Listen: listenIn(tp.srv)})
	files := filepath.Join(r.dir, "files")
	small := []byte("small file\n")
	medium := pattern(3_000_000)
	os.WriteFile(filepath.Join(files, "small.bin"), small, 0o644)
	os.WriteFile(filepath.Join(files, "medium.bin"), medium, 0o644)
	os.WriteFile(filepath.Join(files, "sata1", "ccc.bin"), []byte("ccc"), 0o644)
	os.MkdirAll(filepath.Join(files, "up"), 0o755)
	os.WriteFile(filepath.Join(r.dir, "outside.txt"), []byte("private"), 0o644)
	r.run(t, `/ip tftp settings set max-block-size=8192
/ip tftp add req-filename="^secret" allow=no
/ip tftp add req-filename="^only-elsewhere" ip-addresses=198.19.0.0/16
/ip tftp add req-filename="(aaa.bin)|(bbb.bin)" real-filename="/sata1/ccc.bin\\0" allow=yes read-only=yes
/ip tftp add req-filename="^up/" read-only=no
/ip tftp add req-filename="[.](bin|txt)\$" read-only=yes`)
	work := t.TempDir()
	read := func(name string) []byte {
		b, _ := os.ReadFile(filepath.Join(work, name))
		os.Remove(filepath.Join(work, name))
		return b
	}

	t.Run("tftp-hpa", func(t *testing.T) {
		out, err := tp.client(t, work, "tftp", "-m", "binary", interopServer, "-c", "get", "small.bin", "a")
		if got := read("a"); err != nil || !bytes.Equal(got, small) {
			t.Fatalf("get: %q %v\n%s", got, err, out)
		}
		// netascii both ways: the client turns CR LF back into LF.
		text := []byte("line one\nline two\r\n")
		os.WriteFile(filepath.Join(files, "text.txt"), text, 0o644)
		out, err = tp.client(t, work, "tftp", "-m", "ascii", interopServer, "-c", "get", "text.txt", "t")
		if got := read("t"); err != nil || !bytes.Equal(got, text) {
			t.Fatalf("netascii get: %q %v\n%s", got, err, out)
		}
		os.WriteFile(filepath.Join(work, "t"), text, 0o644)
		if out, err := tp.client(t, work, "tftp", "-m", "ascii", interopServer, "-c", "put", "t", "up/text.txt"); err != nil {
			t.Fatalf("netascii put: %v\n%s", err, out)
		}
		if got, _ := os.ReadFile(filepath.Join(files, "up", "text.txt")); !bytes.Equal(got, text) {
			t.Fatalf("netascii put stored %q", got)
		}
		out, err = tp.client(t, work, "tftp", "-m", "binary", interopServer, "-c", "get", "aaa.bin", "b")
		if got := read("b"); err != nil || string(got) != "ccc" {
			t.Fatalf("aaa.bin via the regex rule: %q %v\n%s", got, err, out)
		}
		for _, name := range []string{"secret.txt", "only-elsewhere.dat", "../outside.txt", "up/../../outside.txt"} {
			out, _ := tp.client(t, work, "tftp", "-m", "binary", interopServer, "-c", "get", name, "c")
			if !strings.Contains(out, "Access violation") {
				t.Errorf("get %s: %s", name, out)
			}
			os.Remove(filepath.Join(work, "c"))
		}
		os.WriteFile(filepath.Join(work, "put.bin"), medium[:100_000], 0o644)
		if out, err := tp.client(t, work, "tftp", "-m", "binary", interopServer, "-c", "put", "put.bin", "up/hpa.bin"); err != nil {
			t.Fatalf("put: %v\n%s", err, out)
		}
		if got, _ := os.ReadFile(filepath.Join(files, "up", "hpa.bin")); !bytes.Equal(got, medium[:100_000]) {
			t.Fatalf("put stored %d bytes", len(got))
		}
		out, _ = tp.client(t, work, "tftp", "-m", "binary", interopServer, "-c", "put", "put.bin", "small.bin")
		if !strings.Contains(out, "Access violation") {
			t.Fatalf("put to a read-only rule: %s", out)
		}
		if got, _ := os.ReadFile(filepath.Join(files, "small.bin")); !bytes.Equal(got, small) {
			t.Fatal("a refused put changed small.bin")
		}
	})

	t.Run("atftp", func(t *testing.T) {
		for _, opts := range [][]string{
			nil,
			{"--option", "blksize 8192", "--option", "tsize 0"},
			{"--option", "blksize 8192", "--option", "windowsize 8"},
			{"--option", "blksize 1428", "--option", "timeout 1", "--option", "windowsize 8"},
		} {
			args := append([]string{"atftp", "--trace"}, opts...)
			args = append(args, "-g", "-r", "medium.bin", "-l", "m", interopServer)
			out, err := tp.client(t, work, args...)
			if got := read("m"); err != nil || !bytes.Equal(got, medium) {
				t.Fatalf("%v: %d bytes, %v\n%s", opts, len(got), err, out)
			}
			// --trace shows the OACK: every option asked for is granted as asked.
			for i := 1; i < len(opts); i += 2 {
				k, v, _ := strings.Cut(opts[i], " ")
				if k == "tsize" {
					v = "3000000"
				}
				if !strings.Contains(out, k+": "+v+",") {
					t.Fatalf("%v: the OACK lacks %s %s:\n%s", opts, k, v, out)
				}
			}
		}
		os.WriteFile(filepath.Join(work, "put.bin"), medium, 0o644)
		if out, err := tp.client(t, work, "atftp", "--option", "blksize 8192", "-p", "-l", "put.bin", "-r", "up/atftp.bin", interopServer); err != nil {
			t.Fatalf("put: %v\n%s", err, out)
		}
		if got, _ := os.ReadFile(filepath.Join(files, "up", "atftp.bin")); !bytes.Equal(got, medium) {
			t.Fatalf("put stored %d bytes", len(got))
		}
		// Overwrite, since up/ is not read-only.
		os.WriteFile(filepath.Join(work, "put.bin"), small, 0o644)
		if out, err := tp.client(t, work, "atftp", "-p", "-l", "put.bin", "-r", "up/atftp.bin", interopServer); err != nil {
			t.Fatalf("overwrite: %v\n%s", err, out)
		}
		if got, _ := os.ReadFile(filepath.Join(files, "up", "atftp.bin")); !bytes.Equal(got, small) {
			t.Fatalf("overwrite stored %q", got)
		}
		out, err := tp.client(t, work, "atftp", "-g", "-r", "../../outside.txt", "-l", "x", interopServer)
		if err == nil || !strings.Contains(out, "Access violation") {
			t.Fatalf("path traversal: %v\n%s", err, out)
		}
	})

	// IPv6: the same socket serves both families, and ip-addresses matches IPv6 prefixes.
	t.Run("ipv6", func(t *testing.T) {
		out, err := tp.client(t, work, "tftp", "-6", "-m", "binary", "2001:db8:69::1", "-c", "get", "small.bin", "6")
		if got := read("6"); err != nil || !bytes.Equal(got, small) {
			t.Fatalf("get: %q %v\n%s", got, err, out)
		}
		r.run(t, `/ip tftp add req-filename="^v6only" ip-addresses=2001:db8::/32 place-before=0`)
		// Only the IPv6 rule serves .dat files (the catch-all takes .bin and .txt).
		os.WriteFile(filepath.Join(files, "v6only.dat"), small, 0o644)
		out, err = tp.client(t, work, "curl", "-sS", "-g", "-o", "6", "tftp://[2001:db8:69::1]/v6only.dat")
		if got := read("6"); err != nil || !bytes.Equal(got, small) {
			t.Fatalf("v6only.dat over IPv6: %q %v\n%s", got, err, out)
		}
		out, _ = tp.client(t, work, "tftp", "-m", "binary", interopServer, "-c", "get", "v6only.dat", "4")
		if !strings.Contains(out, "Access violation") {
			t.Fatalf("v6only.dat over IPv4: %s", out)
		}
		os.Remove(filepath.Join(work, "4"))
	})

	t.Run("curl", func(t *testing.T) {
		url := "tftp://" + interopServer + "/"
		for _, extra := range [][]string{nil, {"--tftp-blksize", "8192"}, {"--tftp-no-options"}} {
			args := append([]string{"curl", "-sS", "-o", "m"}, extra...)
			out, err := tp.client(t, work, append(args, url+"medium.bin")...)
			if got := read("m"); err != nil || !bytes.Equal(got, medium) {
				t.Fatalf("%v: %d bytes, %v\n%s", extra, len(got), err, out)
			}
		}
		out, err := tp.client(t, work, "curl", "-sS", "--path-as-is", "-o", "x", url+"../outside.txt")
		if got := read("x"); err == nil || bytes.Contains(got, []byte("private")) {
			t.Fatalf("path traversal: %v\n%s", err, out)
		}
		os.WriteFile(filepath.Join(work, "put.bin"), medium[:50_000], 0o644)
		if out, err := tp.client(t, work, "curl", "-sS", "-T", "put.bin", url+"up/curl.bin"); err != nil {
			t.Fatalf("put: %v\n%s", err, out)
		}
		if got, _ := os.ReadFile(filepath.Join(files, "up", "curl.bin")); !bytes.Equal(got, medium[:50_000]) {
			t.Fatalf("put stored %d bytes", len(got))
		}
	})
}

// More than 65535 blocks of 512 bytes: refused without allow-rollover, and with it the
// block number wraps and tftp-hpa (no options, so 512-byte blocks) gets the whole file.
func TestInteropRollover(t *testing.T) {
	need(t, "tftp")
	if testing.Short() {
		t.Skip("transfers 34 MB twice in 512-byte blocks")
	}
	tp := newNSTopo(t)
	r := newEngineRig(t, Options{Addr: ":69", Listen: listenIn(tp.srv)})
	big := pattern(65536*512 + 1000)
	os.WriteFile(filepath.Join(r.dir, "files", "big.bin"), big, 0o644)
	os.WriteFile(filepath.Join(r.dir, "files", "big2.bin"), big, 0o644)
	r.run(t, `/ip tftp add req-filename="^big.bin" allow-rollover=yes
/ip tftp add req-filename="^big2.bin"`)
	work := t.TempDir()
	out, _ := tp.client(t, work, "tftp", "-m", "binary", interopServer, "-c", "get", "big2.bin", "n")
	if !strings.Contains(out, "allow-rollover") {
		t.Fatalf("without allow-rollover: %s", out)
	}
	out, err := tp.client(t, work, "tftp", "-m", "binary", interopServer, "-c", "get", "big.bin", "b")
	got, _ := os.ReadFile(filepath.Join(work, "b"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("with allow-rollover: %d of %d bytes, %v\n%s", len(got), len(big), err, out)
	}
}
