package fastpath

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// xdpProg is the id of the XDP program attached to a link of the router ("" for none).
func (r *rig) xdpProg(t testing.TB, dev string) string {
	t.Helper()
	m := regexp.MustCompile(`prog/xdp id (\d+)`).FindStringSubmatch(run(t, "ip", "-n", r.rtr, "-d", "link", "show", dev))
	if m == nil {
		return ""
	}
	return m[1]
}

// TestRestartWithoutPins: a routerd restarted while its previous instance's pins are out
// of its sight (another bpffs mounted over --bpffs, as QA saw; or the folder removed)
// finds its ports still holding the previous instance's port program, which no pin of
// its own names. Attaching anew would fail for good ("device or resource busy"); it takes
// the attachments over instead (same link, its own program, pinned in its folder) and
// the fast path runs again. An XDP program that is not routerd's is left alone and
// print says why the port has no fast path.
func TestRestartWithoutPins(t *testing.T) {
	mnt := filepath.Join(t.TempDir(), "bpf")
	os.MkdirAll(mnt, 0o700)
	if err := syscall.Mount("bpf", mnt, "bpf", 0, ""); err != nil {
		t.Skipf("cannot mount bpffs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	r := buildRigAt(t, true, filepath.Join(mnt, "routerd"))
	r.active(t)
	before := r.xdpProg(t, "ether1")
	if before == "" {
		t.Fatal("no XDP program on ether1")
	}

	// A port running an XDP program that is not routerd's: ether3, with a program of
	// the test's (pinned in the test's bpffs, attached with ip link).
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "other_xdp", Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.LoadImm(asm.R0, 2, asm.DWord), asm.Return()}}) // XDP_PASS
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	if err := prog.Pin(filepath.Join(mnt, "other")); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "link", "add", "ether3", "netns", r.rtr, "type", "veth", "peer", "name", "eth1", "netns", r.src)
	run(t, "ip", "-n", r.rtr, "link", "set", "dev", "ether3", "xdpgeneric", "pinned", filepath.Join(mnt, "other"))
	run(t, "ip", "-n", r.rtr, "link", "set", "ether3", "up")
	foreign := r.xdpProg(t, "ether3")
	eventually(t, "ether3 without the fast path, and why", func() (bool, string) {
		out := r.must("/interface print detail where name=ether3")
		return strings.Contains(out, "fast-path=no") && strings.Contains(out, "not routerd's"), out
	})

	r.rd.Stop()
	if err := syscall.Mount("bpf", mnt, "bpf", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	r.rd.Start()
	r.active(t)
	after := r.xdpProg(t, "ether1")
	if after == "" || after == before {
		t.Errorf("ether1 runs XDP program %q after the restart, before %s: not the new routerd's", after, before)
	}
	if _, err := os.Stat(filepath.Join(mnt, "routerd", "tunnel", "link_port-xdp-native_ether1")); err != nil {
		t.Errorf("the taken-over attachment is not pinned in the new folder: %v", err)
	}
	if strings.Contains(r.rd.Log.String(), "resource busy") {
		t.Errorf("routerd failed to attach:\n%s", r.rd.Log)
	}
	if p := r.xdpProg(t, "ether3"); p != foreign {
		t.Errorf("ether3 runs XDP program %q, want the other owner's %s left alone", p, foreign)
	}
	eventually(t, "ether3 without the fast path after the restart, and why", func() (bool, string) {
		out := r.must("/interface print detail where name=ether3")
		return strings.Contains(out, "fast-path=no") && strings.Contains(out, "not routerd's"), out
	})
}
