package ts

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Info is what ETHTOOL_GET_TS_INFO says about an interface.
type Info struct {
	// PHC is the index of the PTP hardware clock (/dev/ptpN), -1 for none.
	PHC int
	// Hardware: the NIC timestamps in hardware in both directions.
	Hardware bool
}

type ethtoolTSInfo struct {
	cmd            uint32
	soTimestamping uint32
	phcIndex       int32
	txTypes        uint32
	txReserved     [3]uint32
	rxFilters      uint32
	rxReserved     [3]uint32
}

type ifreqPtr struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

type hwtstampConfig struct {
	flags    int32
	txType   int32
	rxFilter int32
}

func ioctl(name string, req uintptr, data unsafe.Pointer) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var ifr ifreqPtr
	copy(ifr.name[:unix.IFNAMSIZ-1], name)
	ifr.data = data
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&ifr)
	if errno != 0 {
		return errno
	}
	return nil
}

// TSInfo asks the driver about timestamping on an interface.
func TSInfo(name string) (Info, error) {
	info := ethtoolTSInfo{cmd: unix.ETHTOOL_GET_TS_INFO}
	if err := ioctl(name, unix.SIOCETHTOOL, unsafe.Pointer(&info)); err != nil {
		return Info{PHC: -1}, fmt.Errorf("ETHTOOL_GET_TS_INFO %s: %w", name, err)
	}
	const need = unix.SOF_TIMESTAMPING_TX_HARDWARE | unix.SOF_TIMESTAMPING_RX_HARDWARE | unix.SOF_TIMESTAMPING_RAW_HARDWARE
	return Info{PHC: int(info.phcIndex), Hardware: info.phcIndex >= 0 && info.soTimestamping&need == need}, nil
}

// enableHW turns on the NIC's timestamping of all transmitted frames and received PTPv2
// event messages (SIOCSHWTSTAMP).
func enableHW(name string) error {
	for _, filter := range []int32{unix.HWTSTAMP_FILTER_PTP_V2_EVENT, unix.HWTSTAMP_FILTER_ALL} {
		cfg := hwtstampConfig{txType: unix.HWTSTAMP_TX_ON, rxFilter: filter}
		if err := ioctl(name, unix.SIOCSHWTSTAMP, unsafe.Pointer(&cfg)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("SIOCSHWTSTAMP %s: %w", name, ErrNotSupported)
}
