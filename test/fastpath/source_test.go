package fastpath

import (
	"bufio"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestOwnSourceNotForwarded: a packet arriving with one of the router's own addresses as
// its source (spoofed by the source host) is a martian to the kernel, which drops it; the
// fast path leaves it to the stack instead of forwarding it, also for an address added
// while routerd runs, and with rp_filter=strict set in /ip settings a source from behind
// another port is not forwarded either. A genuine packet beside them still arrives, by
// the fast path.
func TestOwnSourceNotForwarded(t *testing.T) {
	need(t)
	r := newRig(t)
	r.active(t)
	r.must("/ip address add address=198.18.62.1/24 interface=ether2")
	// The sink prints the source of every datagram to port 5003 it receives.
	server := in(r.snk, "/usr/bin/python3", "-c", `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 5003))
print("ready", flush=True)
while True:
    d, a = s.recvfrom(2048); print(a[0], d.decode(), flush=True)`)
	sout, _ := server.StdoutPipe()
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer server.Process.Kill()
	got := make(chan string, 100)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(sout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(ready)
			} else {
				got <- sc.Text()
			}
		}
	}()
	<-ready
	// send sends one UDP datagram from src (raw socket: any source) with payload tag.
	send := func(src, tag string) {
		t.Helper()
		py := fmt.Sprintf(`
import socket, struct
def csum(b):
    if len(b) %% 2: b += b"\0"
    s = sum(struct.unpack("!%%dH" %% (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
src, dst, data = socket.inet_aton(%q), socket.inet_aton("198.18.61.2"), %q.encode()
udp = struct.pack("!HHHH", 4000, 5003, 8 + len(data), 0) + data
c = csum(src + dst + struct.pack("!BBH", 0, 17, len(udp)) + udp)
udp = udp[:6] + struct.pack("!H", c) + udp[8:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, src, dst)
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto(ip + udp, ("198.18.61.2", 0))`, src, tag)
		if out, err := in(r.src, "/usr/bin/python3", "-c", py).CombinedOutput(); err != nil {
			t.Fatalf("send from %s: %v\n%s", src, err, out)
		}
	}
	// refused sends the spoofed datagrams, then a genuine one, and reads the sink until
	// the genuine one: datagrams from one sender over one path arrive in order, so a
	// spoofed one forwarded arrives before it. The program learns of an address or
	// setting a moment after routerd acknowledged it, hence the retries.
	n := 0
	refused := func(spoofed ...string) {
		t.Helper()
		eventually(t, fmt.Sprintf("sources %v refused", spoofed), func() (bool, string) {
			n++
			for _, s := range spoofed {
				send(s, fmt.Sprintf("spoofed-%d", n))
			}
			before := r.counter("ipv4-fast-path-packets")
			send("198.18.60.2", fmt.Sprintf("genuine-%d", n))
			var seen []string
			for {
				select {
				case l := <-got:
					seen = append(seen, l)
					if l != fmt.Sprintf("198.18.60.2 genuine-%d", n) {
						continue
					}
					fast := r.counter("ipv4-fast-path-packets") > before
					return len(seen) == 1 && fast, fmt.Sprintf("%v (genuine by the fast path: %v)", seen, fast)
				case <-time.After(5 * time.Second):
					return false, fmt.Sprintf("%v, no genuine datagram", seen)
				}
			}
		})
	}
	// Our addresses: the input port's, the output port's, one added just now.
	refused("198.18.60.1", "198.18.61.1", "198.18.62.1")
	if m := r.metrics(t); !regexp.MustCompile(`routerd_fastpath_pass_total\{interface="ether1",reason="martian"\} [1-9]`).MatchString(m) {
		t.Errorf("martian sources not counted:\n%s", grepLines(m, "martian"))
	}

	// Strict reverse-path filtering: a source routed out of ether2 is refused on ether1.
	r.must("/ip settings set rp-filter=strict")
	eventually(t, "rp_filter applied", func() (bool, string) {
		out, _ := in(r.rtr, "sysctl", "-n", "net.ipv4.conf.all.rp_filter").CombinedOutput()
		return strings.TrimSpace(string(out)) == "1", string(out)
	})
	refused("198.18.61.77")
}
