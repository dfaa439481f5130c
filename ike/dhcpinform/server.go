package dhcpinform

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
)

// Port is the DHCP server port informs are sent to; answers go to ClientPort.
const (
	Port       = 67
	ClientPort = 68
)

// Lookup finds the client a mode config gave the address: the local address of its IKE
// SA (the server identifier) and the split-include networks. ok is false for an address
// no mode config gave, which gets no answer.
type Lookup func(client netip.Addr) (server netip.Addr, routes []netip.Prefix, ok bool)

// Serve answers informs on conn until conn is closed (the owner closes it to stop).
// Only a DHCPINFORM from the very address a mode config handed out is answered, so a
// host on a LAN learns nothing by asking.
func Serve(conn *net.UDPConn, lookup Lookup, log *slog.Logger) error {
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		reply, to, ok := Answer(buf[:n], from, lookup)
		if !ok {
			continue
		}
		if _, err := conn.WriteToUDPAddrPort(reply, to); err != nil {
			log.Debug("ipsec: DHCP inform answer", "client", to, "err", err)
		}
	}
}

// Answer is Serve's reply to one datagram from from: the DHCPACK and where it goes, ok
// false when nothing is to be answered.
func Answer(b []byte, from netip.AddrPort, lookup Lookup) ([]byte, netip.AddrPort, bool) {
	m, err := Parse(b)
	if err != nil || m.Type != TypeInform {
		return nil, netip.AddrPort{}, false
	}
	client := from.Addr().Unmap()
	// RFC 2131 4.4.3: the inform carries the client's address in ciaddr, and the answer
	// goes there; it must be the address the datagram came from.
	if m.CIAddr.IsUnspecified() {
		m.CIAddr = client
	}
	if m.CIAddr != client {
		return nil, netip.AddrPort{}, false
	}
	server, routes, ok := lookup(client)
	if !ok {
		return nil, netip.AddrPort{}, false
	}
	reply, _ := m.Ack(server, routes)
	return reply, netip.AddrPortFrom(client, ClientPort), true
}
