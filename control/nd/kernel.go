package nd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Kernel is what the ND engine uses of the kernel: the interfaces and one raw ICMPv6
// socket, reads first, then the writes. A pass looks the interfaces up and joins
// all-routers (ff02::2) only where it has not, so a pass with nothing changed makes no
// call of the writes; the sender and the reader send the advertisements. socketKernel
// is the real one; the plan test runs the engine against a fake that records every
// write (docs/architecture.md, "Kernel seams"), and test/examples
// TestRouterAdvertisementRdisc6 keeps testing the real socket against rdisc6.
type Kernel interface {
	Interface(name string) (*net.Interface, error)
	// Receive reads one router solicitation (the socket's filter passes no other type)
	// with its interface, hop limit and source, waiting until deadline at most.
	Receive(b []byte, deadline time.Time) (n, ifindex, hopLimit int, from netip.Addr, err error)

	// JoinAllRouters and LeaveAllRouters join and leave ff02::2 on an interface, where
	// solicitations are sent.
	JoinAllRouters(ifi *net.Interface) error
	LeaveAllRouters(ifindex int) error
	// Send sends an ICMPv6 message from an interface with hop limit 255 (the kernel
	// fills in the source and the checksum).
	Send(msg []byte, ifi *net.Interface, to netip.Addr) error
	Close() error
}

// socketKernel is the process's namespace through one raw ICMPv6 socket.
type socketKernel struct {
	conn *icmp.PacketConn
	pc   *ipv6.PacketConn
}

var _ Kernel = (*socketKernel)(nil)

// openSocket opens the raw ICMPv6 socket: hop limit 255 on what it sends (RFC 4861
// §6.1.2: receivers drop anything else), no loopback of its own multicast, only router
// solicitations received.
func openSocket() (*socketKernel, error) {
	conn, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	pc := conn.IPv6PacketConn()
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	err = errors.Join(pc.SetControlMessage(ipv6.FlagInterface|ipv6.FlagHopLimit|ipv6.FlagSrc, true),
		pc.SetMulticastHopLimit(255), pc.SetHopLimit(255), pc.SetMulticastLoopback(false), pc.SetICMPFilter(&f))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	return &socketKernel{conn: conn, pc: pc}, nil
}

func (k *socketKernel) Interface(name string) (*net.Interface, error) {
	return net.InterfaceByName(name)
}

func (k *socketKernel) Receive(b []byte, deadline time.Time) (int, int, int, netip.Addr, error) {
	if err := k.pc.SetReadDeadline(deadline); err != nil {
		return 0, 0, 0, netip.Addr{}, err
	}
	n, cm, src, err := k.pc.ReadFrom(b)
	if err != nil {
		return 0, 0, 0, netip.Addr{}, err
	}
	var from netip.Addr
	if ua, ok := src.(*net.IPAddr); ok {
		from, _ = netip.AddrFromSlice(ua.IP)
	}
	if cm == nil {
		return n, 0, 0, from, nil
	}
	return n, cm.IfIndex, cm.HopLimit, from, nil
}

func (k *socketKernel) JoinAllRouters(ifi *net.Interface) error {
	return k.pc.JoinGroup(ifi, &net.IPAddr{IP: allRouters.AsSlice()})
}

func (k *socketKernel) LeaveAllRouters(ifindex int) error {
	err := k.pc.LeaveGroup(&net.Interface{Index: ifindex}, &net.IPAddr{IP: allRouters.AsSlice()})
	if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EADDRNOTAVAIL) {
		return nil // the interface is gone, and its membership with it
	}
	return err
}

func (k *socketKernel) Send(msg []byte, ifi *net.Interface, to netip.Addr) error {
	_, err := k.pc.WriteTo(msg, &ipv6.ControlMessage{IfIndex: ifi.Index, HopLimit: 255},
		&net.IPAddr{IP: to.AsSlice(), Zone: ifi.Name})
	return err
}

func (k *socketKernel) Close() error { return k.conn.Close() }
