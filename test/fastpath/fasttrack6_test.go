package fastpath

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFastTrackIPv6: with an IPv6 filter that fasttracks established connections (so
// the IPv6 fast path is off), a TCP transfer over IPv6 moves through XDP
// (ipv6-fasttrack-packets grows, the filter's dummy fasttrack rule counts them), every
// byte arrives, and allow-fast-path=no in /ipv6 settings stops it mid-transfer without
// breaking the connection.
func TestFastTrackIPv6(t *testing.T) {
	need(t, "nft")
	r := newRig(t)
	r.active(t)
	r.must("/ipv6 firewall filter add chain=forward action=fasttrack-connection connection-state=established,related")
	r.must("/ipv6 firewall filter add chain=forward action=accept")
	eventually(t, "IPv6 fasttrack active", func() (bool, string) {
		s := r.must("/ipv6 settings print")
		return prop(s, "ipv6-fasttrack-active") == "yes" && prop(s, "ipv6-fast-path-active") == "no", s
	})
	r.nftApplied(t, "ip6")

	stop := filepath.Join(r.dir, "stop")
	server := in(r.snk, "/usr/bin/python3", "-c", `
import socket
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("2001:db8:61::2", 5001)); s.listen(1)
print("ready", flush=True)
c, a = s.accept(); n = 0
while True:
    b = c.recv(1 << 16)
    if not b: break
    n += len(b)
print(a[0], n, flush=True)`)
	sout, _ := server.StdoutPipe()
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer server.Process.Kill()
	rd := bufio.NewReader(sout)
	if l, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(l, "ready") {
		t.Fatalf("sink server: %q %v", l, err)
	}
	client := in(r.src, "/usr/bin/python3", "-c", fmt.Sprintf(`
import os, socket, time
c = socket.create_connection(("2001:db8:61::2", 5001), timeout=30)
buf = b"x" * (1 << 16); n = 0
while not os.path.exists(%q):
    c.sendall(buf); n += len(buf)
    time.sleep(0.002)
c.close()
print(n, flush=True)`, stop))
	var cout strings.Builder
	client.Stdout = &cout
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	clientDone := make(chan error, 1)
	go func() { clientDone <- client.Wait() }()

	eventually(t, "fasttracked IPv6 packets", func() (bool, string) {
		s := r.must("/ipv6 settings print")
		v, _ := strconv.ParseUint(prop(s, "ipv6-fasttrack-packets"), 10, 64)
		return v > 100, s
	})
	r.must("/ipv6 settings set allow-fast-path=no")
	eventually(t, "IPv6 fasttrack off", func() (bool, string) {
		s := r.must("/ipv6 settings print")
		return prop(s, "ipv6-fasttrack-active") == "no", s
	})
	off := r.counter("ipv6-fasttrack-packets")
	time.Sleep(500 * time.Millisecond)
	if v := r.counter("ipv6-fasttrack-packets"); v != off {
		t.Errorf("allow-fast-path=no: IPv6 fasttrack counter moved %d -> %d", off, v)
	}
	r.must("/ipv6 settings set allow-fast-path=yes")
	eventually(t, "IPv6 fasttrack back", func() (bool, string) {
		v := r.counter("ipv6-fasttrack-packets")
		return v > off+100, strconv.FormatUint(v, 10)
	})
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-clientDone:
		if err != nil {
			t.Fatalf("client: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the transfer did not finish")
	}
	l, err := rd.ReadString('\n')
	if err != nil {
		t.Fatalf("sink server: %v", err)
	}
	sent := strings.TrimSpace(cout.String())
	if f := strings.Fields(l); len(f) != 2 || f[0] != "2001:db8:60::2" || f[1] != sent || sent == "" {
		t.Errorf("sink received %q, want all %s bytes from 2001:db8:60::2", strings.TrimSpace(l), sent)
	}
	// The dummy rule shows FastTrack's counters.
	out := r.must("/ipv6 firewall filter print stats")
	if !strings.Contains(out, "special dummy rule to show fasttrack counters") ||
		!regexp.MustCompile(`(?m)^\s+D\s+forward passthrough\s+[1-9]\d*\s+[1-9]\d*\s*$`).MatchString(out) {
		t.Errorf("the dummy fasttrack rule does not show IPv6 FastTrack's counters:\n%s", out)
	}
}
