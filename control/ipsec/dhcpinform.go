package ipsec

import (
	"context"
	"fmt"
	"net"
	"sync"
	"syscall"

	"github.com/routerd/routerd/ike"
	"github.com/routerd/routerd/ike/dhcpinform"
)

// informServer answers the DHCPINFORM of Windows road warriors with their mode config's
// split-include networks (option 249), as the reference says RouterOS does. Its socket is
// open only while a responder mode config has split-include, so a router without road
// warriors leaves port 67 to a DHCP server.
type informServer struct {
	mu   sync.Mutex
	conn *net.UDPConn
}

// syncInform opens or closes the inform socket for the peers just applied.
func (e *Engine) syncInform(cfgs []*ike.PeerConfig) {
	ctx := e.runCtx
	want := false
	for _, p := range cfgs {
		for _, id := range p.Identities {
			if mc := id.ModeConfig; mc != nil && mc.Responder && len(mc.Split) > 0 {
				want = true
			}
		}
	}
	s := &e.inform
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case want == (s.conn != nil):
		return
	case !want:
		s.conn.Close()
		s.conn = nil
		return
	}
	var conn *net.UDPConn
	err := e.opts.Do(func() error {
		// SO_REUSEADDR: a DHCP server that binds port 67 the same way keeps working, and
		// both see the broadcast informs (only ours answers a mode config's address).
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		c, err := lc.ListenPacket(context.WithoutCancel(ctx), "udp4", fmt.Sprintf(":%d", dhcpinform.Port))
		if err != nil {
			return err
		}
		conn = c.(*net.UDPConn)
		return nil
	})
	if err != nil {
		e.warnOnce("dhcp-inform", fmt.Sprintf("ipsec: no answers to Windows clients' DHCP inform (split-include as option 249): %v", err))
		return
	}
	delete(e.warned, "dhcp-inform") // a later failure is logged again
	s.conn = conn
	e.h.Go(ctx, func(ctx context.Context) {
		defer s.closeIf(conn) // a panic or error ends it: the next pass opens it again
		dhcpinform.Serve(conn, e.d.ModeConfigClient, e.log)
	})
	e.h.Go(ctx, func(ctx context.Context) {
		<-ctx.Done()
		s.closeIf(conn)
	})
}

// closeIf closes conn and forgets it when it is still the open socket.
func (s *informServer) closeIf(conn *net.UDPConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn.Close()
	if s.conn == conn {
		s.conn = nil
	}
}
