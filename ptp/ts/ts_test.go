package ts

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pair makes two namespaces joined by a veth pair (a, b) with 198.18.x addresses.
func pair(t *testing.T) (nsA, nsB string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	timestampsLive(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	p := fmt.Sprintf("ptsts%d", os.Getpid()%100000)
	nsA, nsB = p+"a", p+"b"
	run := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	run("netns", "add", nsA)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsA).Run() })
	run("netns", "add", nsB)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsB).Run() })
	run("-n", nsA, "link", "add", "name", "a", "type", "veth", "peer", "name", "b", "netns", nsB)
	run("-n", nsA, "addr", "add", "198.18.5.1/24", "dev", "a")
	run("-n", nsB, "addr", "add", "198.18.5.2/24", "dev", "b")
	run("-n", nsA, "link", "set", "dev", "a", "up")
	run("-n", nsB, "link", "set", "dev", "b", "up")
	return nsA, nsB
}

// inNS opens a transport inside a namespace (sockets keep their namespace).
func inNS(t *testing.T, ns string, o Options) Transport {
	t.Helper()
	var tr Transport
	inNSDo(t, ns, func() (err error) {
		tr, err = Open(o)
		return err
	})
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestTimestamps(t *testing.T) {
	nsA, nsB := pair(t)
	for _, mode := range []Mode{UDPv4, L2Forwardable, L2NonForwarding} {
		t.Run(string(mode), func(t *testing.T) {
			a := inNS(t, nsA, Options{Mode: mode, Interface: "a"})
			b := inNS(t, nsB, Options{Mode: mode, Interface: "b"})
			if info, err := TSInfo("lo"); err == nil && info.Hardware {
				t.Log("loopback claims hardware timestamps")
			}
			for i, c := range []struct{ event, pdelay bool }{{true, false}, {false, false}, {true, true}, {true, false}} {
				msg := []byte(fmt.Sprintf("ptp message %d padded to 44 bytes..............", i))
				txts, err := a.Send(msg, c.event, c.pdelay)
				if err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
				if c.event && txts == 0 {
					t.Fatalf("send %d: no transmit timestamp", i)
				}
				select {
				case p := <-b.Recv():
					if string(p.Data[:len(msg)]) != string(msg) {
						t.Fatalf("got %q", p.Data)
					}
					if p.TS == 0 {
						t.Fatal("no receive timestamp")
					}
					if c.event && p.TS < txts {
						t.Fatalf("received at %d before sent at %d", p.TS, txts)
					}
				case <-time.After(2 * time.Second):
					t.Fatalf("message %d not received", i)
				}
			}
		})
	}
}

// TestTransmitTimestampUnbiased: a transport's event message takes as long from its
// transmit timestamp to the peer's receive timestamp as one sent the way ptp4l sends
// (one thread that sends and then reads the error queue, nobody else waiting on the
// socket), on the same veth pair, interleaved. A transmit timestamp taken while another
// thread waits on the sending socket is early by the time the kernel takes to wake
// that thread (several microseconds in a VM): the path delay came out 3-6 us long.
func TestTransmitTimestampUnbiased(t *testing.T) {
	nsA, nsB := pair(t)
	a := inNS(t, nsA, Options{Mode: UDPv4, Interface: "a"})
	b := inNS(t, nsB, Options{Mode: UDPv4, Interface: "b"})
	var ref int
	inNSDo(t, nsA, func() (err error) {
		ref, err = refSocket("a")
		return err
	})
	t.Cleanup(func() { unix.Close(ref) })

	recv := func(want string) int64 {
		t.Helper()
		for deadline := time.After(2 * time.Second); ; {
			select {
			case p := <-b.Recv():
				if string(p.Data) == want {
					return p.TS
				}
			case <-deadline:
				t.Fatalf("%q not received", want)
			}
		}
	}
	var trDelay, refDelay []int64
	for i := range 60 {
		// Spaced so that the transport's reader sleeps in poll when the next one goes.
		time.Sleep(3 * time.Millisecond)
		msg := fmt.Sprintf("transport %d", i)
		tx, err := a.Send([]byte(msg), true, false)
		if err != nil {
			t.Fatal(err)
		}
		trDelay = append(trDelay, recv(msg)-tx)
		time.Sleep(3 * time.Millisecond)
		msg = fmt.Sprintf("reference %d", i)
		tx = refSend(t, ref, msg)
		refDelay = append(refDelay, recv(msg)-tx)
	}
	tr, rf := median(trDelay), median(refDelay)
	t.Logf("median transmit-to-receive: transport %d ns, single-threaded reference %d ns", tr, rf)
	if tr > rf+1000 {
		t.Fatalf("transport's transmit timestamps are early: median %d ns from transmit to receive, reference %d ns", tr, rf)
	}
}

func median(xs []int64) int64 {
	s := append([]int64(nil), xs...)
	slices.Sort(s)
	return s[len(s)/2]
}

// inNSDo runs fn on a thread inside namespace ns and fails the test if it fails.
func inNSDo(t *testing.T, ns string, fn func() error) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	defer unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET)
	if err := fn(); err != nil {
		t.Fatal(err)
	}
}

// refSocket is a UDP socket sending to the PTP group on ifname with software transmit
// timestamps, as ptp4l's.
func refSocket(ifname string) (int, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for _, err := range []error{
		unix.BindToDevice(fd, ifname),
		unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)}),
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, unix.SOF_TIMESTAMPING_TX_SOFTWARE|
			unix.SOF_TIMESTAMPING_SOFTWARE|unix.SOF_TIMESTAMPING_OPT_TSONLY),
	} {
		if err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

// refSend sends msg and reads its transmit timestamp in the same thread.
func refSend(t *testing.T, fd int, msg string) int64 {
	t.Helper()
	sa := &unix.SockaddrInet4{Port: EventPort}
	copy(sa.Addr[:], PrimaryIPv4)
	if err := unix.Sendto(fd, []byte(msg), 0, sa); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 64), make([]byte, 512)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		_, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err != nil {
			unix.Poll([]unix.PollFd{{Fd: int32(fd)}}, 10)
			continue
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPING {
				return pickTS(m.Data, false)
			}
		}
	}
	t.Fatal("reference: no transmit timestamp")
	return 0
}

// timestampsLive holds a receive-timestamping socket open for the test and waits until
// the kernel stamps packets. The first socket of the system to ask for software receive
// timestamps turns stamping on through a deferred work item, so a packet that arrives
// in the first moments after may carry none (the node drops such event messages); a
// test that checks every message must not race that.
func timestampsLive(t *testing.T) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING,
		unix.SOF_TIMESTAMPING_RX_SOFTWARE|unix.SOF_TIMESTAMPING_SOFTWARE); err != nil {
		t.Fatal(err)
	}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100_000})
	self, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 16), make([]byte, 256)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if err := unix.Sendto(fd, []byte("probe"), 0, self); err != nil {
			t.Fatal(err)
		}
		_, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
		if err != nil {
			continue
		}
		if msgs, _ := unix.ParseSocketControlMessage(oob[:oobn]); len(msgs) > 0 {
			return
		}
	}
	t.Fatal("the kernel never stamped a received packet")
}

// A panic while reading a message (a bug a frame from the network hits; injected) costs
// that message only: it is counted, and the reader goes on with the next.
func TestReaderPanicRecovered(t *testing.T) {
	nsA, nsB := pair(t)
	a := inNS(t, nsA, Options{Mode: UDPv4, Interface: "a"})
	b := inNS(t, nsB, Options{Mode: UDPv4, Interface: "b"})
	bt := b.(*transport)
	hook := func(data []byte) {
		if strings.HasPrefix(string(data), "boom") {
			panic("injected")
		}
	}
	bt.hook.Store(&hook)
	for _, m := range []string{"boom message padded to 44 bytes.............", "fine message padded to 44 bytes............."} {
		if _, err := a.Send([]byte(m), false, false); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case p := <-b.Recv():
		if !strings.HasPrefix(string(p.Data), "fine") {
			t.Fatalf("got %q, want the message after the one that panicked", p.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received after the panic")
	}
	if n := bt.Faults(); n != 1 {
		t.Errorf("faults %d, want 1", n)
	}
}
