package tunnel

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinDir says where the tunnel objects are pinned, and whether the pins outlive routerd.
// dir (the tunnel folder under --bpffs) on a bpf filesystem is used as it is: pins there
// keep tunnels forwarding while routerd restarts. Anywhere else, routerd mounts nothing
// where the operator would find it: the objects are pinned in a bpf filesystem of its
// own that no folder shows (mounted, opened, and detached at once), reached through the
// open descriptor; it goes away with the process, and the tunnels' eBPF objects with it,
// as without pins. The caller keeps closeFn until it is done with the objects.
func pinDir(dir string) (path string, persistent bool, closeFn func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err == nil && onBPFFS(dir) {
		return dir, true, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "routerd-bpffs-")
	if err != nil {
		return "", false, nil, fmt.Errorf("bpffs: %s is not on a bpf filesystem, and no folder for a private one: %w", dir, err)
	}
	defer os.Remove(tmp)
	if err := unix.Mount("bpf", tmp, "bpf", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
		return "", false, nil, fmt.Errorf("bpffs: %s is not on a bpf filesystem, and mounting a private one failed: %w", dir, err)
	}
	fd, err := unix.Open(tmp, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	// Detached at once: the descriptor alone keeps it, so that nothing outlives routerd.
	unix.Unmount(tmp, unix.MNT_DETACH)
	if err != nil {
		return "", false, nil, fmt.Errorf("bpffs: opening a private bpf filesystem: %w", err)
	}
	slog.Warn("tunnel: --bpffs is not on a bpf filesystem: eBPF objects are not pinned, tunnels stop forwarding while routerd restarts",
		"dir", dir)
	return "/proc/self/fd/" + strconv.Itoa(fd), false, func() { unix.Close(fd) }, nil
}

func onBPFFS(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && uint32(st.Type) == unix.BPF_FS_MAGIC
}
