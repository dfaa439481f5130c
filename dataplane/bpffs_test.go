package dataplane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOpenPins: an object folder on a bpf filesystem is used as it is; any other folder
// gets a private bpf filesystem that no folder shows and that goes with its descriptor.
func TestOpenPins(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts bpf filesystems")
	}
	root := t.TempDir()
	plain := filepath.Join(root, "plain", "tunnel")
	p, err := OpenPins(filepath.Join(root, "plain"), "tunnel")
	if err != nil {
		t.Fatal(err)
	}
	path, persistent := p.Dir, p.Persistent
	if persistent || !strings.HasPrefix(path, "/proc/self/fd/") || !OnBPFFS(path) || OnBPFFS(plain) {
		t.Fatalf("plain folder: path %s persistent %v (bpffs there: %v, at the folder: %v)", path, persistent, OnBPFFS(path), OnBPFFS(plain))
	}
	// Objects can be pinned there (what dataplane does), and no mount is left to see.
	if err := os.Mkdir(filepath.Join(path, "tunnel"), 0o700); err != nil {
		t.Fatalf("mkdir in the private bpffs: %v", err)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), "routerd-bpffs-") {
		t.Errorf("the private bpffs is mounted where it can be seen:\n%s", mi)
	}
	p.Close()
	if OnBPFFS(path) {
		t.Errorf("%s still a bpffs after close", path)
	}

	fs := filepath.Join(root, "fs")
	os.MkdirAll(fs, 0o700)
	if err := unix.Mount("bpf", fs, "bpf", 0, ""); err != nil {
		t.Skipf("cannot mount bpffs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(fs, unix.MNT_DETACH) })
	dir := filepath.Join(fs, "tunnel")
	p, err = OpenPins(fs, "tunnel")
	if err != nil || p.Dir != dir || !p.Persistent {
		t.Fatalf("bpffs folder: %+v %v", p, err)
	}
	p.Close()
}
