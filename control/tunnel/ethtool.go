package tunnel

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Legacy ethtool commands (linux/ethtool.h): each toggles one offload.
const (
	ethtoolSTSO = 0x1f
	ethtoolSGSO = 0x24
	ethtoolSGRO = 0x2c
)

type ethtoolValue struct {
	cmd, data uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data uintptr
	_    [16]byte
}

// ethtoolSet switches one offload of a link on or off.
func ethtoolSet(ifname string, cmd uint32, on bool) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("ethtool: %w", err)
	}
	defer unix.Close(fd)
	v := &ethtoolValue{cmd: cmd}
	if on {
		v.data = 1
	}
	ifr := &ifreqData{data: uintptr(unsafe.Pointer(v))}
	copy(ifr.name[:], ifname)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(ifr)))
	runtime.KeepAlive(v)
	if errno != 0 {
		return fmt.Errorf("ethtool %s cmd %#x: %w", ifname, cmd, errno)
	}
	return nil
}
