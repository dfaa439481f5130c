package firewall

import (
	"syscall"
	"testing"
	"time"
)

// TestClampToPMTU: change-mss new-mss=clamp-to-pmtu lowers the MSS of a SYN the router
// forwards to what the outgoing route's MTU allows (1400 - 40 = 1360). The MSS the
// server's accepted socket took from the SYN is read back with TCP_MAXSEG; unclamped it
// is 1460 less the timestamp option. (The kernel's rt tcpmss is in host byte order: the
// MSS written without the conversion was 1360 byte-swapped, which the kernel's "only
// lower an MSS" rule ignored, and `nft list` showed the rule as if it were right.)
func TestClampToPMTU(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	sh(t, "ip", "-n", tp.r, "link", "set", "wan", "mtu", "1400")
	r.run(t, `/ip firewall mangle add chain=forward protocol=tcp tcp-flags=syn action=change-mss new-mss=clamp-to-pmtu passthrough=yes comment=clamp`)
	l := tcpListen(t, tp.s, 5803)
	got := make(chan int, 1)
	go func() {
		l.SetDeadline(time.Now().Add(peerWait))
		c, err := l.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		mss := -1
		if rc, err := c.(interface {
			SyscallConn() (syscall.RawConn, error)
		}).SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) {
				mss, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG)
			})
		}
		got <- mss
	}()
	if _, err := tcpDial(t, tp.c, "198.19.2.2", 5803); err != nil {
		t.Fatalf("tcp client: %v", err)
	}
	mss := <-got
	if mss <= 0 || mss > 1360 {
		t.Errorf("the server's MSS from the clamped SYN is %d, want at most 1360 (route MTU 1400)", mss)
	}
	if n := r.counter(t, "/ip firewall mangle", "clamp"); n == 0 {
		t.Error("the clamp rule counted no packet")
	}
}
