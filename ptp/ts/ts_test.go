package ts

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
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
	tr, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
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
