package firewall

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// The tests' traffic: sockets opened in a namespace from the test process itself, where
// each datagram or connection started two python interpreters (seconds each on a loaded
// machine, and the package ran into its time limit). A socket stays in the namespace it
// was created in, whichever thread uses it later.

// peerWait bounds a wait for traffic the test expects (the kernel forwards within
// milliseconds) and is how long a test waits before it concludes a packet was dropped.
const peerWait = 3 * time.Second

// inNS runs fn on a thread inside network namespace ns.
func inNS(t testing.TB, ns string, fn func() error) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.GetFromPath("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	err = fn()
	if serr := netns.Set(orig); serr != nil {
		panic(serr) // a thread left in another namespace must not run anything else
	}
	if err != nil {
		t.Fatal(err)
	}
}

// udpListen opens a UDP socket on port in namespace ns.
func udpListen(t testing.TB, ns string, port int) net.PacketConn {
	t.Helper()
	var c net.PacketConn
	inNS(t, ns, func() (err error) {
		c, err = net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", port))
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// udpDial opens a UDP socket in namespace ns connected to dst:port, bound to local
// ("" any).
func udpDial(t testing.TB, ns, local, dst string, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	inNS(t, ns, func() error {
		var la *net.UDPAddr
		if local != "" {
			var err error
			if la, err = net.ResolveUDPAddr("udp4", local); err != nil {
				return err
			}
		}
		ra, err := net.ResolveUDPAddr("udp4", fmt.Sprintf("%s:%d", dst, port))
		if err != nil {
			return err
		}
		c, err = net.DialUDP("udp4", la, ra)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// udpBound opens an unconnected UDP socket in namespace ns bound to local: its writes
// do not fail on the port unreachable an earlier one drew, as a connected socket's do.
func udpBound(t testing.TB, ns, local string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	inNS(t, ns, func() error {
		la, err := net.ResolveUDPAddr("udp4", local)
		if err != nil {
			return err
		}
		c, err = net.ListenUDP("udp4", la)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// received waits up to peerWait for a datagram on c and returns its source address:port,
// or "" when none came.
func received(c net.PacketConn) string {
	c.SetReadDeadline(time.Now().Add(peerWait))
	buf := make([]byte, 100)
	_, from, err := c.ReadFrom(buf)
	if err != nil {
		return ""
	}
	return from.String()
}

// tcpListen opens a TCP listener on port in namespace ns.
func tcpListen(t testing.TB, ns string, port int) *net.TCPListener {
	t.Helper()
	var l net.Listener
	inNS(t, ns, func() (err error) {
		l, err = net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port))
		return err
	})
	t.Cleanup(func() { l.Close() })
	return l.(*net.TCPListener)
}

// tcpDial connects from namespace ns to dst:port.
func tcpDial(t testing.TB, ns, dst string, port int) (*net.TCPConn, error) {
	t.Helper()
	var c net.Conn
	var derr error
	inNS(t, ns, func() error {
		c, derr = net.DialTimeout("tcp4", fmt.Sprintf("%s:%d", dst, port), peerWait)
		return nil
	})
	if derr != nil {
		return nil, derr
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn), nil
}

// refusedErr reports whether err is the ICMP port unreachable a connected UDP socket got.
func refusedErr(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
