package ts

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// txSocket sends event messages and reads their transmit timestamps itself, in the
// sending goroutine, as ptp4l does: no other thread ever waits on it.
//
// Why a socket of its own: the kernel queues a software transmit timestamp in the
// driver's transmit routine (skb_tx_timestamp) and, in the same call, wakes every
// thread that waits on the socket (sk_error_report) before the frame is handed on. When
// a reader blocked in poll on the socket it sends on is woken there (an IPI to the
// other CPU, several microseconds in a VM), that time is spent after t3 was taken and
// before the frame leaves: t3 is early, the measured path delay long (by 3-6 us on a
// veth pair here) and the clock ahead by that much. The receiving sockets, on which the
// reader goroutines wait, ask for receive timestamps only.
type txSocket struct {
	mu sync.Mutex
	fd int
	// key counts sends, as the kernel's SOF_TIMESTAMPING_OPT_ID does: every send on this
	// socket asks for a timestamp.
	key uint32
}

// openTx makes the sending socket of a transport. l2 (Ethernet, or a bridge port's tap
// framing) sends whole frames on a packet socket bound to protocol 0, which receives
// nothing. UDP sends from a socket bound to the primary group and port 319 (the source
// port a receiver expects of event messages) with IP_MULTICAST_ALL off and no
// membership, so that it too receives nothing: unicast goes to the receiving socket.
func openTx(ifi *net.Interface, mode Mode, l2 bool, tsflags int) (*txSocket, error) {
	var fd int
	var err error
	if l2 {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	} else {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("ptp %s send socket: %w", mode, err)
	}
	fail := func(what string, err error) (*txSocket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("ptp %s send socket on %s: %s: %w", mode, ifi.Name, what, err)
	}
	// Whatever a bug or a kernel difference might still deliver here is dropped.
	drop := []unix.SockFilter{{Code: 0x06, K: 0}} // BPF_RET|BPF_K 0
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		&unix.SockFprog{Len: 1, Filter: &drop[0]}); err != nil {
		return fail("SO_ATTACH_FILTER", err)
	}
	if l2 {
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
			return fail("bind", err)
		}
	} else {
		steps := []struct {
			what string
			do   func() error
		}{
			{"SO_REUSEADDR", func() error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) }},
			{"SO_BINDTODEVICE", func() error { return unix.BindToDevice(fd, ifi.Name) }},
			{"IP_MULTICAST_ALL", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0) }},
			{"bind", func() error {
				sa := &unix.SockaddrInet4{Port: EventPort}
				copy(sa.Addr[:], PrimaryIPv4)
				return unix.Bind(fd, sa)
			}},
			{"IP_MULTICAST_IF", func() error {
				return unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)})
			}},
			{"IP_MULTICAST_LOOP", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0) }},
			{"IP_MULTICAST_TTL", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 1) }},
		}
		for _, s := range steps {
			if err := s.do(); err != nil {
				return fail(s.what, err)
			}
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, tsflags); err != nil {
		return fail("SO_TIMESTAMPING", err)
	}
	return &txSocket{fd: fd}, nil
}

// send transmits one event message and returns its transmit timestamp, waiting at most
// timeout for it (a software timestamp is there when sendto returns; a NIC's comes with
// its completion interrupt).
func (s *txSocket) send(frame []byte, sa unix.Sockaddr, timeout time.Duration, hw bool, done <-chan struct{}) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return 0, ErrClosed
	}
	if err := unix.Sendto(s.fd, frame, 0, sa); err != nil {
		return 0, fmt.Errorf("ptp send: %w", err)
	}
	key := s.key
	s.key++
	var oob [512]byte
	var buf [64]byte
	deadline := time.Now().Add(timeout)
	for {
		ts, k, err := s.readErrQueue(buf[:], oob[:], hw)
		switch {
		case err == nil && k == key:
			return ts, nil
		case err == nil:
			continue // a timestamp of an earlier send that timed out
		case !errors.Is(err, unix.EAGAIN):
			return 0, fmt.Errorf("ptp transmit timestamp: %w", err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return 0, ErrTxTimeout
		}
		select {
		case <-done:
			return 0, ErrClosed
		default:
		}
		// POLLERR is always reported: no events need asking for.
		ts2 := unix.NsecToTimespec(left.Nanoseconds())
		if _, err := unix.Ppoll([]unix.PollFd{{Fd: int32(s.fd)}}, &ts2, nil); err != nil && !errors.Is(err, unix.EINTR) {
			return 0, fmt.Errorf("ptp transmit timestamp: %w", err)
		}
	}
}

// readErrQueue reads one message of the error queue: its timestamp and OPT_ID key.
// Messages without both are skipped.
func (s *txSocket) readErrQueue(buf, oob []byte, hw bool) (int64, uint32, error) {
	for {
		_, oobn, _, _, err := unix.Recvmsg(s.fd, buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err != nil {
			return 0, 0, err
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			continue
		}
		var ts int64
		key, haveKey := uint32(0), false
		for _, m := range msgs {
			switch {
			case m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPING:
				ts = pickTS(m.Data, hw)
			case (m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVERR) ||
				(m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_TX_TIMESTAMP):
				if len(m.Data) >= int(unsafe.Sizeof(unix.SockExtendedErr{})) {
					ee := (*unix.SockExtendedErr)(unsafe.Pointer(&m.Data[0]))
					if ee.Origin == unix.SO_EE_ORIGIN_TIMESTAMPING {
						key, haveKey = ee.Data, true
					}
				}
			}
		}
		if haveKey && ts != 0 {
			return ts, key, nil
		}
	}
}

func (s *txSocket) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}
