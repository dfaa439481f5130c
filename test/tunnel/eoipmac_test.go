package tunnel

import (
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestEoIPMACFromCreation: every link message the kernel sends of an EoIP interface,
// from the one that announces it, carries the interface's own MAC address (the
// generated one, stored in the item, and a configured one): routerd makes the link with
// it instead of setting it after the link appeared. Before, the first message carried
// the kernel's random address, and test/fastpath TestDecapForwardRig, which read
// eoip1's address as soon as the link was there, sent its frames to that address on a
// loaded CI machine (dropped: the interface had another by then). Fails without the
// change: the first RTM_NEWLINK of each interface has a 02:... address.
func TestEoIPMACFromCreation(t *testing.T) {
	need(t)
	tp := newTopo(t)
	h, err := netns.GetFromName(tp.a)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ch, done := make(chan netlink.LinkUpdate, 4096), make(chan struct{})
	var lost atomic.Pointer[string] // what went wrong with the subscription before the test ended it
	if err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{Namespace: &h,
		ErrorCallback: func(err error) {
			select {
			case <-done: // closing the socket ends the receive
			default:
				msg := err.Error()
				lost.CompareAndSwap(nil, &msg)
			}
		}}); err != nil {
		t.Fatal(err)
	}
	defer close(done)
	tp.ra.must("/interface", "eoip", "add", "name=eoip-gen", "tunnel-id=1", "remote-address="+tp.addrB)
	tp.ra.must("/interface", "eoip", "add", "name=eoip-set", "tunnel-id=2", "remote-address="+tp.addrB, "mac-address=FE:00:5E:00:00:02")
	want := map[string]string{"eoip-set": "FE:00:5E:00:00:02"}
	waitFor(t, "the generated mac-address stored and both interfaces running", 10*time.Second, func() bool {
		m := regexp.MustCompile(`name="eoip-gen".*?mac-address=(\S+)`).FindStringSubmatch(strings.Join(strings.Fields(printDetail(tp.ra, "eoip")), " "))
		if m == nil {
			return false
		}
		want["eoip-gen"] = m[1]
		for n, mac := range want {
			out, err := exec.Command("ip", "-n", tp.a, "-o", "link", "show", n).Output() // not there yet: an error
			if l := string(out); err != nil || !strings.Contains(strings.ToUpper(l), "LINK/ETHER "+mac) || !strings.Contains(l, "LOWER_UP") {
				return false
			}
		}
		return true
	})
	seen := map[string]int{}
	for len(ch) > 0 {
		u := <-ch
		a := u.Link.Attrs()
		mac, ok := want[a.Name]
		if !ok || u.Header.Type != unix.RTM_NEWLINK {
			continue
		}
		seen[a.Name]++
		if got := strings.ToUpper(a.HardwareAddr.String()); got != mac {
			t.Errorf("link message %d of %s carries %s, not its address %s", seen[a.Name], a.Name, got, mac)
		}
	}
	if msg := lost.Load(); msg != nil {
		t.Errorf("link updates: %s", *msg)
	}
	for n := range want {
		if seen[n] == 0 {
			t.Errorf("no link message of %s", n)
		}
	}
}
