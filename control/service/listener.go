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

	mu  sync.Mutex
	pre map[netip.Addr]int64 // connections not logged in yet, by source (IPv6: its /64)
}

// preLoginMax is how many of a service's max-sessions slots connections from one
// source that have not logged in may hold: half, so that a stranger opening
// max-sessions idle connections (each held until --login-timeout) cannot lock
// everyone else out of the service.
func preLoginMax(sessions int64) int64 {
	return max(1, (sessions+1)/2)
}

// source is the address connections are counted by before login: IPv6 by /64, which
// one host usually has all of.
func source(a netip.Addr) netip.Addr {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
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
		src := source(remoteAddr(c))
		g.mu.Lock()
		if g.pre[src] >= preLoginMax(p.max) {
			g.mu.Unlock()
			g.m.refused.WithLabelValues(g.service, "pre-login").Inc()
			reset(c)
			continue
		}
		if g.active.Add(1) > p.max {
			g.mu.Unlock()
			g.active.Add(-1)
			g.m.refused.WithLabelValues(g.service, "max-sessions").Inc()
			reset(c)
			continue
		}
		if g.pre == nil {
			g.pre = map[netip.Addr]int64{}
		}
		g.pre[src]++
		g.mu.Unlock()
		g.m.accepted.WithLabelValues(g.service).Inc()
		g.m.sessions.WithLabelValues(g.service).Inc()
		var sc net.Conn = &session{Conn: c, g: g, src: src}
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
	g     *guarded
	src   netip.Addr
	once  sync.Once
	login sync.Once // the connection leaves the pre-login count once
}

func (s *session) Close() error {
	err := s.Conn.Close()
	s.once.Do(func() {
		s.loggedIn()
		s.g.active.Add(-1)
		s.g.m.sessions.WithLabelValues(s.g.service).Dec()
	})
	return err
}

func (s *session) loggedIn() {
	s.login.Do(func() {
		s.g.mu.Lock()
		if s.g.pre[s.src]--; s.g.pre[s.src] <= 0 {
			delete(s.g.pre, s.src)
		}
		s.g.mu.Unlock()
	})
}

// LoggedIn tells the service a connection it accepted has logged in: it no longer
// counts against its source's pre-login share of max-sessions. Protocols call it once
// a login succeeds; connections from elsewhere (tests' own listeners) are ignored.
func LoggedIn(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if s, ok := c.(*session); ok {
		s.loggedIn()
	}
}
