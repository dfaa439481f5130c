package service

import (
	"crypto/tls"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

var errAddrInUse = syscall.EADDRINUSE

// policy is what a service checks per connection; set replaces it without restarting
// the listener.
type policy struct {
	addrs []netip.Prefix
	max   int64
}

// guarded is the listener a Protocol gets: Accept returns only connections from the
// address list while fewer than max-sessions are open.
type guarded struct {
	net.Listener
	service string
	tls     *tls.Config
	m       *Manager
	policy  atomic.Pointer[policy]
	active  atomic.Int64
}

func (g *guarded) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		p := g.policy.Load()
		if !permitted(p.addrs, remoteAddr(c)) {
			g.m.refused.WithLabelValues(g.service, "acl").Inc()
			reset(c)
			continue
		}
		if g.active.Add(1) > p.max {
			g.active.Add(-1)
			g.m.refused.WithLabelValues(g.service, "max-sessions").Inc()
			reset(c)
			continue
		}
		g.m.accepted.WithLabelValues(g.service).Inc()
		g.m.sessions.WithLabelValues(g.service).Inc()
		var sc net.Conn = &session{Conn: c, g: g}
		if g.tls != nil {
			// The handshake runs on the protocol's first read, not here, so a slow
			// client cannot hold up Accept for the others.
			sc = tls.Server(sc, g.tls)
		}
		return sc, nil
	}
}

// reset closes a refused connection with a RST, before any byte is read or written.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func remoteAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

func permitted(prefixes []netip.Prefix, a netip.Addr) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// session is an accepted connection; closing it frees its slot once.
type session struct {
	net.Conn
	g    *guarded
	once sync.Once
}

func (s *session) Close() error {
	err := s.Conn.Close()
	s.once.Do(func() {
		s.g.active.Add(-1)
		s.g.m.sessions.WithLabelValues(s.g.service).Dec()
	})
	return err
}
