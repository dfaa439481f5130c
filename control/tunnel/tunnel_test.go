package tunnel

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/dataplane"
)

// TestCounterNames: the counters the engine reports are exactly the stats columns each
// tunnel menu declares (a drop reason added to the dataplane needs its column), and
// rx-drop and tx-drop add up the reasons by direction.
func TestCounterNames(t *testing.T) {
	s := dataplane.Stats{RxPackets: 1, RxBytes: 2, TxPackets: 3, TxBytes: 4}
	var sum uint64
	for i := range s.Drops {
		s.Drops[i] = uint64(10 << i)
		sum += s.Drops[i]
	}
	p := counterProps(s)
	tree := menu.Default()
	for _, tm := range Menus {
		m, ok := tree.Get(tm.Path)
		if !ok {
			t.Fatalf("%s not declared", tm.Path)
		}
		for k := range p {
			if !slices.Contains(m.Stats, k) {
				t.Errorf("%s: counter %s is no stats column", tm.Path, k)
			}
		}
		for _, k := range m.Stats {
			if _, ok := p[k]; !ok {
				t.Errorf("%s: stats column %s is not reported", tm.Path, k)
			}
		}
	}
	mal := slices.Index(dataplane.DropReasons, "malformed")
	if mal < 0 {
		t.Fatal("no malformed drop reason")
	}
	if p["rx-drop"] != strconv.FormatUint(s.Drops[mal], 10) || p["tx-drop"] != strconv.FormatUint(sum-s.Drops[mal], 10) {
		t.Errorf("rx-drop %s tx-drop %s from %v", p["rx-drop"], p["tx-drop"], s.Drops)
	}
	if p["rx-byte"] != "2" || p["tx-packet"] != "3" {
		t.Errorf("counters %v", p)
	}
}

// TestPinDir: a tunnel folder on a bpf filesystem is used as it is; any other folder
// gets a private bpf filesystem that no folder shows and that goes with its descriptor.
func TestPinDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts bpf filesystems")
	}
	root := t.TempDir()
	plain := filepath.Join(root, "plain", "tunnel")
	path, persistent, closeFn, err := pinDir(plain)
	if err != nil {
		t.Fatal(err)
	}
	if persistent || !strings.HasPrefix(path, "/proc/self/fd/") || !onBPFFS(path) || onBPFFS(plain) {
		t.Fatalf("plain folder: path %s persistent %v (bpffs there: %v, at the folder: %v)", path, persistent, onBPFFS(path), onBPFFS(plain))
	}
	// Objects can be pinned there (what dataplane does), and no mount is left to see.
	if err := os.Mkdir(filepath.Join(path, "tunnel"), 0o700); err != nil {
		t.Fatalf("mkdir in the private bpffs: %v", err)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), "routerd-bpffs-") {
		t.Errorf("the private bpffs is mounted where it can be seen:\n%s", mi)
	}
	closeFn()
	if onBPFFS(path) {
		t.Errorf("%s still a bpffs after close", path)
	}

	fs := filepath.Join(root, "fs")
	os.MkdirAll(fs, 0o700)
	if err := unix.Mount("bpf", fs, "bpf", 0, ""); err != nil {
		t.Skipf("cannot mount bpffs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(fs, unix.MNT_DETACH) })
	dir := filepath.Join(fs, "tunnel")
	path, persistent, closeFn, err = pinDir(dir)
	if err != nil || path != dir || !persistent {
		t.Fatalf("bpffs folder: %s %v %v", path, persistent, err)
	}
	closeFn()
}
