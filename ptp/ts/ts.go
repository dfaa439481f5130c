package ts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/ratelog"
)

// Errors.
var (
	ErrNotSupported = errors.New("hardware timestamping not supported")
	ErrTxTimeout    = errors.New("no transmit timestamp")
	ErrClosed       = errors.New("transport closed")
)

// Mode is the kind of transport (the menu's transport values).
type Mode string

// Transports.
const (
	UDPv4           Mode = "ipv4"
	L2Forwardable   Mode = "l2-forwardable"
	L2NonForwarding Mode = "l2-non-forwardable"
)

// Addresses of Annex D and F.
var (
	PrimaryIPv4 = net.IPv4(224, 0, 1, 129).To4()
	PdelayIPv4  = net.IPv4(224, 0, 0, 107).To4()
	MACForward  = net.HardwareAddr{0x01, 0x1B, 0x19, 0x00, 0x00, 0x00}
	MACPdelay   = net.HardwareAddr{0x01, 0x80, 0xC2, 0x00, 0x00, 0x0E}
)

// EtherType of PTP over Ethernet.
const EtherType = 0x88F7

// Ports of Annex D.
const (
	EventPort   = 319
	GeneralPort = 320
)

// Packet is one received message with its receive timestamp (ns; CLOCK_REALTIME for
// software timestamps, the PHC's time for hardware ones; 0 when the kernel gave none).
type Packet struct {
	Data []byte
	TS   int64
}

// Transport carries PTP messages on one interface.
type Transport interface {
	// Send transmits a message; event messages wait for their transmit timestamp. pdelay
	// selects the peer delay destination.
	Send(b []byte, event, pdelay bool) (int64, error)
	// Recv delivers received messages until Close.
	Recv() <-chan Packet
	// Hardware reports whether timestamps are the NIC's.
	Hardware() bool
	Close() error
}

// Options of a transport.
type Options struct {
	Mode      Mode
	Interface string
	// Hardware asks for hardware timestamps (the caller checked Info first).
	Hardware bool
	// TxTimeout bounds the wait for a transmit timestamp.
	TxTimeout time.Duration
}

// Open makes a transport on an interface.
func Open(o Options) (Transport, error) {
	ifi, err := net.InterfaceByName(o.Interface)
	if err != nil {
		return nil, fmt.Errorf("ptp transport: %w", err)
	}
	if o.TxTimeout == 0 {
		o.TxTimeout = 100 * time.Millisecond
	}
	if o.Hardware {
		if err := enableHW(ifi.Name); err != nil {
			return nil, err
		}
	}
	// Receiving sockets ask for receive timestamps only; transmit timestamps come on the
	// sending socket (txSocket).
	flags := unix.SOF_TIMESTAMPING_RX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE
	txFlags := unix.SOF_TIMESTAMPING_TX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE
	if o.Hardware {
		flags = unix.SOF_TIMESTAMPING_RX_HARDWARE | unix.SOF_TIMESTAMPING_RAW_HARDWARE
		txFlags = unix.SOF_TIMESTAMPING_TX_HARDWARE | unix.SOF_TIMESTAMPING_RAW_HARDWARE
	}
	txFlags |= unix.SOF_TIMESTAMPING_OPT_ID | unix.SOF_TIMESTAMPING_OPT_TSONLY
	t := &transport{hw: o.Hardware, timeout: o.TxTimeout, recv: make(chan Packet, 128), done: make(chan struct{})}
	bridged, err := BridgePort(ifi.Name)
	if err != nil {
		return nil, err
	}
	switch {
	case bridged && (o.Mode == UDPv4 || o.Mode == L2Forwardable || o.Mode == L2NonForwarding):
		s, err := tapSocket(ifi, flags)
		if err != nil {
			return nil, err
		}
		t.event, t.general = s, s
		t.tap, t.mode, t.src = true, o.Mode, ifi.HardwareAddr
		t.l2 = o.Mode != UDPv4
		t.dst = MACForward
		if o.Mode == L2NonForwarding {
			t.dst = MACPdelay
		}
		t.srcIP = sourceIPv4(ifi)
	case o.Mode == UDPv4:
		ev, err := udpSocket(ifi, EventPort, flags)
		if err != nil {
			return nil, err
		}
		gen, err := udpSocket(ifi, GeneralPort, 0)
		if err != nil {
			unix.Close(ev.fd)
			return nil, err
		}
		t.event, t.general = ev, gen
	case o.Mode == L2Forwardable || o.Mode == L2NonForwarding:
		s, err := l2Socket(ifi, flags)
		if err != nil {
			return nil, err
		}
		t.event, t.general = s, s
		t.l2 = true
		t.src = ifi.HardwareAddr
		t.dst = MACForward
		if o.Mode == L2NonForwarding {
			t.dst = MACPdelay
		}
	default:
		return nil, fmt.Errorf("ptp transport %q: %w", o.Mode, ErrNotSupported)
	}
	tx, err := openTx(ifi, o.Mode, t.l2 || t.tap, txFlags)
	if err != nil {
		unix.Close(t.event.fd)
		if t.general != t.event {
			unix.Close(t.general.fd)
		}
		return nil, err
	}
	t.tx = tx
	t.start(t.event)
	if t.general != t.event {
		t.start(t.general)
	}
	return t, nil
}

// socket is a receiving socket (general messages are also sent on it).
type socket struct {
	fd      int
	l2      bool
	ifindex int
}

type transport struct {
	event, general *socket
	tx             *txSocket
	l2             bool
	// tap: the port is a bridge port: a tap socket receives (bridge.go); messages go out
	// framed for mode, UDP ones from srcIP.
	tap     bool
	mode    Mode
	srcIP   [4]byte
	ipID    atomic.Uint32
	src     net.HardwareAddr
	dst     net.HardwareAddr
	hw      bool
	timeout time.Duration
	recv    chan Packet
	done    chan struct{}
	wg      sync.WaitGroup
	closed  atomic.Bool

	// faults counts panics recovered while reading (readSafe); flog bounds their log.
	faults atomic.Uint64
	flog   ratelog.Log
	// hook, in tests, runs on each received message before it is queued; a test
	// makes it panic to show that the reader survives.
	hook atomic.Pointer[func([]byte)]
}

func (t *transport) Recv() <-chan Packet { return t.recv }

// Faults is how many panics the transport's reader recovered.
func (t *transport) Faults() uint64 { return t.faults.Load() }
func (t *transport) Hardware() bool { return t.hw }

func (t *transport) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	close(t.done)
	t.wg.Wait()
	unix.Close(t.event.fd)
	if t.general != t.event {
		unix.Close(t.general.fd)
	}
	t.tx.close()
	return nil
}

func (t *transport) Send(b []byte, event, pdelay bool) (int64, error) {
	if t.closed.Load() {
		return 0, ErrClosed
	}
	var frame []byte
	var sa unix.Sockaddr
	switch {
	case t.l2:
		dst := t.dst
		if pdelay {
			dst = MACPdelay
		}
		frame = make([]byte, 14+len(b))
		copy(frame, dst)
		copy(frame[6:], t.src)
		binary.BigEndian.PutUint16(frame[12:], EtherType)
		copy(frame[14:], b)
		ll := &unix.SockaddrLinklayer{Protocol: htons(EtherType), Ifindex: t.event.ifindex, Halen: 6}
		copy(ll.Addr[:], dst)
		sa = ll
	case t.tap:
		port := GeneralPort
		if event {
			port = EventPort
		}
		dst := [4]byte(PrimaryIPv4)
		if pdelay {
			dst = [4]byte(PdelayIPv4)
		}
		frame = udpFrame(t.src, t.srcIP, dst, uint16(t.ipID.Add(1)), port, b)
		ll := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: t.event.ifindex, Halen: 6}
		copy(ll.Addr[:], frame[:6])
		sa = ll
	default:
		port := GeneralPort
		if event {
			port = EventPort
		}
		dst := PrimaryIPv4
		if pdelay {
			dst = PdelayIPv4
		}
		in := &unix.SockaddrInet4{Port: port}
		copy(in.Addr[:], dst)
		frame, sa = b, in
	}
	if !event {
		if err := unix.Sendto(t.general.fd, frame, 0, sa); err != nil {
			return 0, fmt.Errorf("ptp send: %w", err)
		}
		return 0, nil
	}
	return t.tx.send(frame, sa, t.timeout, t.hw, t.done)
}

func (t *transport) start(s *socket) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		buf := make([]byte, 2048)
		oob := make([]byte, 512)
		fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
		for {
			select {
			case <-t.done:
				return
			default:
			}
			n, err := unix.Poll(fds, 200)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return
			}
			if n <= 0 {
				continue
			}
			if fds[0].Revents&unix.POLLERR != 0 {
				t.drainErrQueue(s, buf, oob)
			}
			if fds[0].Revents&unix.POLLIN != 0 {
				t.readSafe(s, buf, oob)
			}
		}
	}()
}

var faultWords = ratelog.Words{Summary: "ptp: receive internal errors not logged (rate limit)", More: "more-not-logged"}

// readSafe reads what is waiting on s. The reader runs for the life of the transport,
// outside the engine host's recovery (the node's Run recovers nothing of another
// goroutine), and handles frames from the network: a panic there, a bug that a frame
// hits, costs that frame only. It is counted (Faults) and logged with its stack, at most
// a line a minute (one frame can be sent by the thousand), and the reader goes on.
func (t *transport) readSafe(s *socket, buf, oob []byte) {
	defer func() {
		if p := recover(); p != nil {
			t.faults.Add(1)
			t.flog.Write(slog.Default(), faultWords, slog.LevelError, netip.Addr{}, "read",
				"ptp: internal error reading a message", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	t.read(s, buf, oob)
}

func (t *transport) read(s *socket, buf, oob []byte) {
	for {
		n, oobn, _, from, err := unix.Recvmsg(s.fd, buf, oob, unix.MSG_DONTWAIT)
		if err != nil {
			return
		}
		data := buf[:n]
		if s.l2 {
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if t.tap {
				if data = tapPayload(t.mode, data); data == nil {
					continue
				}
			} else {
				if n < 14 {
					continue
				}
				data = data[14:]
			}
		}
		if f := t.hook.Load(); f != nil {
			(*f)(data)
		}
		p := Packet{Data: append([]byte(nil), data...), TS: t.stamp(oob[:oobn])}
		select {
		case t.recv <- p:
		default: // a stalled reader loses messages rather than the socket
		}
	}
}

// drainErrQueue empties a receiving socket's error queue (it asks for no transmit
// timestamps; anything else there would keep poll reporting POLLERR).
func (t *transport) drainErrQueue(s *socket, buf, oob []byte) {
	for {
		if _, _, _, _, err := unix.Recvmsg(s.fd, buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT); err != nil {
			return
		}
	}
}

// stamp reads the receive timestamp from control messages.
func (t *transport) stamp(oob []byte) int64 {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPING {
			return t.pick(m.Data)
		}
	}
	return 0
}

func (t *transport) pick(d []byte) int64 { return pickTS(d, t.hw) }

// pickTS reads struct scm_timestamping: ts[0] software, ts[2] raw hardware.
func pickTS(d []byte, hw bool) int64 {
	const sz = int(unsafe.Sizeof(unix.Timespec{}))
	i := 0
	if hw {
		i = 2
	}
	if len(d) < (i+1)*sz {
		return 0
	}
	ts := (*unix.Timespec)(unsafe.Pointer(&d[i*sz]))
	return ts.Nano()
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func udpSocket(ifi *net.Interface, port int, tsflags int) (*socket, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("ptp udp socket: %w", err)
	}
	fail := func(what string, err error) (*socket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("ptp udp %d on %s: %s: %w", port, ifi.Name, what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	if err := unix.BindToDevice(fd, ifi.Name); err != nil {
		return fail("SO_BINDTODEVICE", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port}); err != nil {
		return fail("bind", err)
	}
	for _, g := range []net.IP{PrimaryIPv4, PdelayIPv4} {
		m := &unix.IPMreqn{Ifindex: int32(ifi.Index)}
		copy(m.Multiaddr[:], g)
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, m); err != nil {
			return fail("join "+g.String(), err)
		}
	}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)}); err != nil {
		return fail("IP_MULTICAST_IF", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0); err != nil {
		return fail("IP_MULTICAST_LOOP", err)
	}
	// Annex D: peer delay messages must not pass a router; TTL 1 for all keeps PTP on
	// the link the port serves, as ptp4l does.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 1); err != nil {
		return fail("IP_MULTICAST_TTL", err)
	}
	if tsflags != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, tsflags); err != nil {
			return fail("SO_TIMESTAMPING", err)
		}
	} else if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING,
		unix.SOF_TIMESTAMPING_RX_SOFTWARE|unix.SOF_TIMESTAMPING_SOFTWARE); err != nil {
		return fail("SO_TIMESTAMPING", err)
	}
	return &socket{fd: fd, ifindex: ifi.Index}, nil
}

func l2Socket(ifi *net.Interface, tsflags int) (*socket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(EtherType)))
	if err != nil {
		return nil, fmt.Errorf("ptp packet socket: %w", err)
	}
	fail := func(what string, err error) (*socket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("ptp l2 on %s: %s: %w", ifi.Name, what, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(EtherType), Ifindex: ifi.Index}); err != nil {
		return fail("bind", err)
	}
	for _, mac := range []net.HardwareAddr{MACForward, MACPdelay} {
		mr := &unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_MULTICAST, Alen: 6}
		copy(mr.Address[:], mac)
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mr); err != nil {
			return fail("join "+mac.String(), err)
		}
	}
	// Our own frames would come back through the tap; older kernels lack the option,
	// and read() drops PACKET_OUTGOING frames anyway.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, tsflags); err != nil {
		return fail("SO_TIMESTAMPING", err)
	}
	return &socket{fd: fd, l2: true, ifindex: ifi.Index}, nil
}
