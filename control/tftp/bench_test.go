package tftp

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkAtftp fetches a 10 MB file over loopback inside a namespace with atftp
// (blksize 8192, windowsize 8) from this server and, in the same run, from tftpd-hpa
// and atftpd unpacked from their Debian packages (TFTPD_HPA and ATFTPD name their
// binaries; see docs/perf.md). MB/s is the figure; compare the sub-benchmarks' ratio.
func BenchmarkAtftp(b *testing.B) {
	need(b, "atftp")
	tp := &nsTopo{srv: fmt.Sprintf("tftp%db", os.Getpid())}
	sh(b, "ip", "netns", "add", tp.srv)
	b.Cleanup(func() { exec.Command("ip", "netns", "del", tp.srv).Run() })
	sh(b, "ip", "-n", tp.srv, "link", "set", "lo", "up")
	tp.cli = tp.srv
	// tftpd-hpa resolves its bind address with AI_ADDRCONFIG, which wants an IPv4
	// address besides loopback.
	v := fmt.Sprintf("tf%dv", os.Getpid())
	sh(b, "ip", "-n", tp.srv, "link", "add", v, "type", "veth", "peer", "name", v+"p")
	sh(b, "ip", "-n", tp.srv, "addr", "add", interopServer+"/24", "dev", v)
	sh(b, "ip", "-n", tp.srv, "link", "set", v, "up")

	const size = 10 << 20
	data := pattern(size)
	// Peers drop privileges to nobody: the served folder must be world readable.
	dir, err := os.MkdirTemp("", "tftpbench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	files := filepath.Join(dir, "files")
	os.Mkdir(files, 0o755)
	if err := os.WriteFile(filepath.Join(files, "10m.bin"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	work := b.TempDir()

	fetch := func(b *testing.B, port int) {
		b.SetBytes(size)
		b.ResetTimer()
		for b.Loop() {
			out, err := tp.client(b, work, "atftp", "--option", "blksize 8192", "--option", "windowsize 8",
				"-g", "-r", "10m.bin", "-l", "out", "127.0.0.1", strconv.Itoa(port))
			if err != nil {
				b.Fatalf("atftp: %v\n%s", err, out)
			}
		}
		b.StopTimer()
		if fi, err := os.Stat(filepath.Join(work, "out")); err != nil || fi.Size() != size {
			b.Fatalf("fetched %v, %v", fi, err)
		}
		os.Remove(filepath.Join(work, "out"))
	}

	b.Run("routerd", func(b *testing.B) {
		r := newEngineRig(b, Options{Addr: "127.0.0.1:6969", Listen: listenIn(tp.srv)})
		os.RemoveAll(filepath.Join(r.dir, "files"))
		if err := os.Symlink(files, filepath.Join(r.dir, "files")); err != nil {
			b.Fatal(err)
		}
		r.run(b, "/ip tftp settings set max-block-size=8192\n/ip tftp add")
		fetch(b, 6969)
	})
	peers := []struct {
		name, env string
		args      func(bin string, port int) []string
	}{
		{"tftpd-hpa", "TFTPD_HPA", func(bin string, port int) []string {
			return []string{bin, "-L", "-u", "nobody", "-a", "127.0.0.1:" + strconv.Itoa(port), "-s", files}
		}},
		{"atftpd", "ATFTPD", func(bin string, port int) []string {
			return []string{bin, "--daemon", "--no-fork", "--user", "nobody.nogroup", "--logfile", "/dev/null",
				"--bind-address", "127.0.0.1", "--port", strconv.Itoa(port), files}
		}},
	}
	for i, p := range peers {
		b.Run(p.name, func(b *testing.B) {
			bin := os.Getenv(p.env)
			if bin == "" {
				b.Skipf("%s names no %s binary", p.env, p.name)
			}
			port := 6970 + i
			args := p.args(bin, port)
			cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + tp.srv, "--"}, args...)...)
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			waitUDP(b, tp.srv, port)
			fetch(b, port)
		})
	}
}

// waitUDP waits until something listens on 127.0.0.1:port in namespace ns.
func waitUDP(b *testing.B, ns string, port int) {
	for range 100 {
		c, err := listenIn(ns)(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			return // taken: the peer is up
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("nothing listens on port %d", port)
}
