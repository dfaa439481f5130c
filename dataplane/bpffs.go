package dataplane

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The bpffs policy, one for every eBPF object routerd loads (tunnels with the port
// program, PTP steering), so that bpftool finds them all the same way:
//
//   - the root is --bpffs (default /sys/fs/bpf/routerd); PrepareRoot mounts the bpf file
//     system at /sys/fs/bpf as systemd would when nothing is mounted there;
//   - each object has a folder of its own under the root (Object: "tunnel", "ptp");
//   - in it, maps are pinned under their names in the C source (LIBBPF_PIN_BY_NAME),
//     programs under their section function names, and attachments (links) as
//     link_<role>_<ifname>, so `bpftool prog show pinned ROOT/tunnel/xdp_port` and
//     `bpftool map dump pinned ROOT/tunnel/fp_stats` work the same for all of them;
//   - pins outlive routerd, so a restarted routerd reuses maps (configuration and
//     counters) and updates links in place, without a gap in forwarding;
//   - where the root is not on a bpf file system (and none can be mounted there), each
//     object is pinned in a private bpf file system that no folder shows (mounted,
//     opened and detached at once) and reached through its descriptor: the same code
//     runs, and everything goes away with the process.

// DefaultRoot is routerd's --bpffs default.
const DefaultRoot = "/sys/fs/bpf/routerd"

// bpfMount is where the BPF file system is normally mounted.
const bpfMount = "/sys/fs/bpf"

// PrepareRoot creates the pin root when it lies on a bpffs mount, mounting the bpf file
// system at /sys/fs/bpf first when the root lies under it and nothing is mounted there.
// Without one routerd still runs; every object then pins privately (Pins).
func PrepareRoot(root string) {
	// The nearest existing ancestor (or root itself) tells which file system root is on.
	at := root
	for {
		if _, err := os.Stat(at); err == nil || filepath.Dir(at) == at {
			break
		}
		at = filepath.Dir(at)
	}
	if !OnBPFFS(at) {
		if !strings.HasPrefix(root+"/", bpfMount+"/") || at != bpfMount {
			slog.Warn("bpffs not mounted; eBPF objects are pinned privately and end with routerd", "dir", root,
				"hint", "mount -t bpf bpf /sys/fs/bpf")
			return
		}
		if err := unix.Mount("bpf", bpfMount, "bpf", 0, "mode=0700"); err != nil {
			slog.Warn("cannot mount bpffs; eBPF objects are pinned privately and end with routerd", "dir", bpfMount, "err", err)
			return
		}
		slog.Info("mounted bpffs", "dir", bpfMount)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		slog.Warn("cannot create bpffs directory", "dir", root, "err", err)
	}
}

// OnBPFFS reports whether dir is on a bpf file system.
func OnBPFFS(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && uint32(st.Type) == unix.BPF_FS_MAGIC
}

// Pins is the pin folder of one object.
type Pins struct {
	// Dir is where the object's maps, programs and links are pinned.
	Dir string
	// Persistent: Dir is under the root on a bpf file system and outlives routerd.
	Persistent bool
	close      func()
}

// Close releases a private bpf file system (nothing for a persistent one).
func (p *Pins) Close() {
	if p.close != nil {
		p.close()
	}
}

// Path is where the pin called name lies.
func (p *Pins) Path(name string) string { return filepath.Join(p.Dir, name) }

// LinkPath is the pin of an attachment: link_<role>_<ifname>.
func (p *Pins) LinkPath(role, ifname string) string {
	return filepath.Join(p.Dir, "link_"+role+"_"+ifname)
}

// OpenPins returns the pin folder of object under root (see the policy above).
func OpenPins(root, object string) (*Pins, error) {
	dir := filepath.Join(root, object)
	if err := os.MkdirAll(dir, 0o700); err == nil && OnBPFFS(dir) {
		return &Pins{Dir: dir, Persistent: true}, nil
	}
	tmp, err := os.MkdirTemp("", "routerd-bpffs-")
	if err != nil {
		return nil, fmt.Errorf("bpffs: %s is not on a bpf filesystem, and no folder for a private one: %w", dir, err)
	}
	defer os.Remove(tmp)
	if err := unix.Mount("bpf", tmp, "bpf", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
		return nil, fmt.Errorf("bpffs: %s is not on a bpf filesystem, and mounting a private one failed: %w", dir, err)
	}
	fd, err := unix.Open(tmp, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	// Detached at once: the descriptor alone keeps it, so that nothing outlives routerd.
	unix.Unmount(tmp, unix.MNT_DETACH)
	if err != nil {
		return nil, fmt.Errorf("bpffs: opening a private bpf filesystem: %w", err)
	}
	slog.Warn("--bpffs is not on a bpf filesystem: eBPF objects are not pinned and stop working while routerd restarts",
		"dir", dir, "object", object)
	return &Pins{Dir: "/proc/self/fd/" + strconv.Itoa(fd), close: func() { unix.Close(fd) }}, nil
}
