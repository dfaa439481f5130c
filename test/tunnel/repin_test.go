package tunnel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPinFolderRemade: routerd's bpffs pin folder removed behind its back (rm -rf of
// --bpffs) took the tunnels' attachments with it (a link whose last reference was its
// pin is detached) and left nowhere to pin new ones. The next pass makes the folder and
// the map and program pins again and attaches every tunnel anew: the tunnel made before
// carries traffic again, and one added afterwards runs and prints pinned=yes.
func TestPinFolderRemade(t *testing.T) {
	need(t, "ping")
	tp := newTopo(t)
	tp.greLink(t, "198.19.31")
	ping(t, tp.a, "198.19.31.2")
	pins := filepath.Join(tp.ra.bpf, "tunnel")
	if _, err := os.Stat(filepath.Join(pins, "tunnel_cfg")); err != nil {
		t.Fatalf("no pins under --bpffs: %v", err)
	}
	if err := os.RemoveAll(tp.ra.bpf); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pin folder made again", time.Minute, func() bool {
		for _, n := range []string{"tunnel_cfg", "xdp_ports", "fp_counters", "tun_encap", "xdp_port"} {
			if _, err := os.Stat(filepath.Join(pins, n)); err != nil {
				return false
			}
		}
		ms, _ := filepath.Glob(filepath.Join(pins, "link_encap_*"))
		return len(ms) == 1
	})
	ping(t, tp.a, "198.19.31.2")

	// A tunnel added afterwards is attached and pinned.
	tp.ra.must("/interface", "eoip", "add", "name=eo2", "remote-address="+tp.addrB, "tunnel-id=2")
	waitLink(t, tp.a, "eo2")
	waitFor(t, "eo2 running and pinned", time.Minute, func() bool {
		d := tp.ra.must("/interface", "eoip", "print", "detail")
		return strings.Contains(d, " R ") && strings.Contains(d, "pinned=yes") && !strings.Contains(d, "pinning")
	})
	if ms, _ := filepath.Glob(filepath.Join(pins, "link_encap_*")); len(ms) != 2 {
		t.Errorf("encapsulator pins %v, want two", ms)
	}
	if d := printDetail(tp.ra, "gre") + printDetail(tp.ra, "eoip"); strings.Contains(d, "no such file") || strings.Contains(d, "pinned=no") {
		t.Errorf("print still reports the missing folder:\n%s", d)
	}
}
