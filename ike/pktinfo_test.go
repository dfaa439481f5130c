package ike

import (
	"errors"
	"net"
	"strings"
	"testing"
)

// TestNewFailsWithoutDestinationAddress (issue 10): when a listening socket cannot be
// asked for each message's destination address (IP_PKTINFO), New fails naming it and
// closes the sockets it opened, rather than starting a daemon whose answers could leave
// from another local address than their requests came to. The setsockopt fails here
// because Listen hands back a socket that is already closed.
func TestNewFailsWithoutDestinationAddress(t *testing.T) {
	var opened []*net.UDPConn
	o := DefaultOptions()
	o.Listen = func(network string, _ *net.UDPAddr) (*net.UDPConn, error) {
		if network != "udp4" {
			return nil, errors.New("no IPv6 in this test")
		}
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		opened = append(opened, c)
		if len(opened) == 2 { // the NAT-T socket
			c.Close()
		}
		return c, nil
	}
	d, err := New(o, &keepChildren{})
	if err == nil {
		d.Close()
		t.Fatal("New started a daemon whose NAT-T socket cannot report destination addresses")
	}
	if !strings.Contains(err.Error(), "destination address") || !errors.Is(err, net.ErrClosed) {
		t.Errorf("error %q does not say which socket option failed and why", err)
	}
	if len(opened) != 2 {
		t.Fatalf("Listen called %d times, want 2 (udp4 500 and 4500)", len(opened))
	}
	// The first socket was set up fine; New must have closed it on the way out.
	if _, err := opened[0].WriteToUDP([]byte{0}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the IKE socket opened before the failure is still open (write: %v)", err)
	}
}
