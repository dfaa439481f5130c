package radius

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
)

// Tries is how often a request goes to one server before the next is asked.
const Tries = 3

// Server is one /radius entry as the client uses it.
type Server struct {
	ID       uint64 // the /radius item
	Addr     netip.Addr
	AuthPort uint16
	AcctPort uint16
	Secret   []byte
	Timeout  time.Duration
	Src      netip.Addr // invalid or unspecified: chosen by routing
	Services []string
	Realm    string
	CalledID string
	// AcctBackup servers get accounting only when the others did not answer.
	AcctBackup bool
	// RequireMessageAuth refuses Access-Accept, -Reject and -Challenge replies without a
	// Message-Authenticator (RouterOS 7.15's require-message-auth, against BlastRADIUS
	// forgeries); replies with an EAP-Message need one either way.
	RequireMessageAuth bool
}

// DefaultServer returns RouterOS's defaults of a /radius entry.
func DefaultServer() Server {
	return Server{AuthPort: 1812, AcctPort: 1813, Timeout: 300 * time.Millisecond, RequireMessageAuth: true}
}

// Counters are one server's statistics (the /radius stats columns).
type Counters struct {
	Requests, Accepts, Rejects, Challenges, Resends, Timeouts, BadReplies atomic.Int64
	AcctRequests, AcctResponses                                           atomic.Int64
}

// Client sends requests to the configured servers. Its methods are safe for concurrent use.
type Client struct {
	mu       sync.Mutex
	servers  []Server
	counters map[uint64]*Counters
	log      *slog.Logger
	drops    dropLog // refused replies: counted in BadReplies, logged once a minute per server
	// Dial opens the socket to one server (tests: inside their namespace).
	Dial func(local, remote netip.AddrPort) (*net.UDPConn, error)
	// Notify, when set, is called with a server's id after its counters changed.
	Notify func(id uint64)
}

// NewClient returns a client with no servers.
func NewClient(log *slog.Logger) *Client {
	if log == nil {
		log = slog.Default()
	}
	return &Client{counters: map[uint64]*Counters{}, log: log, Dial: func(l, r netip.AddrPort) (*net.UDPConn, error) {
		var la *net.UDPAddr
		if l.Addr().IsValid() && !l.Addr().IsUnspecified() {
			la = net.UDPAddrFromAddrPort(l)
		}
		return net.DialUDP("udp", la, net.UDPAddrFromAddrPort(r))
	}}
}

// SetServers replaces the servers (in the order they are asked); counters of servers that
// stay are kept.
func (c *Client) SetServers(ss []Server) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.servers = slices.Clone(ss)
	keep := map[uint64]*Counters{}
	for _, s := range ss {
		if k := c.counters[s.ID]; k != nil {
			keep[s.ID] = k
		} else {
			keep[s.ID] = &Counters{}
		}
	}
	c.counters = keep
}

// Counters returns a server's counters (nil for an unknown one).
func (c *Client) Counters(id uint64) *Counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counters[id]
}

func (c *Client) notify(id uint64) {
	if c.Notify != nil {
		c.Notify(id)
	}
}

// For returns the servers of a service, in order.
func (c *Client) For(service string) []Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Server
	for _, s := range c.servers {
		if slices.Contains(s.Services, service) {
			out = append(out, s)
		}
	}
	return out
}

// Reply is an answer with the server that gave it.
type Reply struct {
	*radius.Packet
	Server Server
	// Request is the request as sent to that server (its Authenticator decrypts the
	// reply's hidden attributes).
	Request *radius.Packet
}

// Authenticate sends an Access-Request built by build (called once per server, with a
// fresh packet that already has that server's secret; build adds the attributes) to the
// servers of service in order. A Message-Authenticator is added; the reply must carry a
// valid one when it has an EAP-Message.
func (c *Client) Authenticate(ctx context.Context, service string, build func(p *radius.Packet, s Server) error) (*Reply, error) {
	servers := c.For(service)
	if len(servers) == 0 {
		return nil, fmt.Errorf("%w %s", ErrNoServer, service)
	}
	var lastErr error = ErrTimeout
	for _, s := range servers {
		p := radius.New(radius.CodeAccessRequest, s.Secret)
		if err := build(p, s); err != nil {
			return nil, err
		}
		if u := rfc2865.UserName_GetString(p); s.Realm != "" && u != "" && !strings.Contains(u, "@") {
			rfc2865.UserName_SetString(p, u+"@"+s.Realm)
		}
		if s.CalledID != "" && !hasAttr(p, rfc2865.CalledStationID_Type) {
			rfc2865.CalledStationID_SetString(p, s.CalledID)
		}
		if err := signMessageAuth(p, p.Authenticator); err != nil {
			return nil, err
		}
		k := c.Counters(s.ID)
		r, err := c.exchange(ctx, s, s.AuthPort, p, k, false)
		defer c.notify(s.ID)
		if err == nil {
			if k != nil {
				switch r.Code {
				case radius.CodeAccessAccept:
					k.Accepts.Add(1)
				case radius.CodeAccessReject:
					k.Rejects.Add(1)
				case radius.CodeAccessChallenge:
					k.Challenges.Add(1)
				}
			}
			return &Reply{Packet: r, Server: s, Request: p}, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lastErr = err
	}
	return nil, lastErr
}

// Account sends an Accounting-Request built by build to the service's servers: the
// first that answers ends it (backup servers only after the others failed).
func (c *Client) Account(ctx context.Context, service string, build func(p *radius.Packet) error) error {
	servers := c.For(service)
	slices.SortStableFunc(servers, func(a, b Server) int {
		switch {
		case a.AcctBackup == b.AcctBackup:
			return 0
		case b.AcctBackup:
			return -1
		}
		return 1
	})
	if len(servers) == 0 {
		return fmt.Errorf("%w %s", ErrNoServer, service)
	}
	var lastErr error = ErrTimeout
	for _, s := range servers {
		p := radius.New(radius.CodeAccountingRequest, s.Secret)
		if err := build(p); err != nil {
			return err
		}
		if err := signMessageAuth(p, [16]byte{}); err != nil {
			return err
		}
		// The Request Authenticator of an Accounting-Request is the MD5 over the packet
		// (RFC 2866 3): Encode computes it.
		k := c.Counters(s.ID)
		_, err := c.exchange(ctx, s, s.AcctPort, p, k, true)
		c.notify(s.ID)
		if err == nil {
			return nil
		} else if ctx.Err() != nil {
			return ctx.Err()
		} else {
			lastErr = err
		}
	}
	return lastErr
}

// exchange sends p to one server up to Tries times and waits for a reply that verifies.
func (c *Client) exchange(ctx context.Context, s Server, port uint16, p *radius.Packet, k *Counters, acct bool) (*radius.Packet, error) {
	if k == nil {
		k = &Counters{}
	}
	conn, err := c.Dial(netip.AddrPortFrom(s.Src, 0), netip.AddrPortFrom(s.Addr, port))
	if err != nil {
		return nil, fmt.Errorf("radius server %s: %w", s.Addr, err)
	}
	defer conn.Close()
	wire, err := p.Encode()
	if err != nil {
		return nil, err
	}
	if acct {
		// Encode filled in the Request Authenticator; keep it for checking the reply.
		copy(p.Authenticator[:], wire[4:20])
	}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 300 * time.Millisecond
	}
	buf := make([]byte, radius.MaxPacketLength)
	for try := 0; try < Tries; try++ {
		if try == 0 {
			if acct {
				k.AcctRequests.Add(1)
			} else {
				k.Requests.Add(1)
			}
		} else {
			k.Resends.Add(1)
		}
		if _, err := conn.Write(wire); err != nil {
			return nil, fmt.Errorf("radius server %s: %w", s.Addr, err)
		}
		deadline := time.Now().Add(timeout)
		conn.SetReadDeadline(deadline)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				// ICMP unreachable on a connected socket: wait out the timeout as
				// RouterOS does, the server may come up.
				time.Sleep(time.Until(deadline))
				break
			}
			r, err := c.verify(buf[:n], wire, p, s)
			if err != nil {
				k.BadReplies.Add(1)
				c.drops.drop(c.log, s.Addr, "radius: reply refused", "server", s.Addr, "err", err)
				continue
			}
			if acct {
				k.AcctResponses.Add(1)
			}
			return r, nil
		}
	}
	k.Timeouts.Add(1)
	c.log.Warn("radius: server did not answer", "server", s.Addr, "port", port, "tries", Tries)
	return nil, fmt.Errorf("%w (%s)", ErrTimeout, s.Addr)
}

// verify parses a reply and checks it answers req: identifier, Response Authenticator and
// Message-Authenticator (required when it carries an EAP-Message).
func (c *Client) verify(b, wire []byte, req *radius.Packet, s Server) (*radius.Packet, error) {
	if len(b) < 20 || b[1] != req.Identifier {
		return nil, fmt.Errorf("%w: not an answer to request %d", ErrMalformed, req.Identifier)
	}
	r, err := radius.Parse(b, s.Secret)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch r.Code {
	case radius.CodeAccessAccept, radius.CodeAccessReject, radius.CodeAccessChallenge:
		if req.Code != radius.CodeAccessRequest {
			return nil, fmt.Errorf("%w: code %v answers no access request", ErrMalformed, r.Code)
		}
	case radius.CodeAccountingResponse:
		if req.Code != radius.CodeAccountingRequest {
			return nil, fmt.Errorf("%w: code %v answers no accounting request", ErrMalformed, r.Code)
		}
	default:
		return nil, fmt.Errorf("%w: unexpected code %v", ErrMalformed, r.Code)
	}
	if !radius.IsAuthenticResponse(b, wire, s.Secret) {
		return nil, ErrBadAuthenticator
	}
	err = checkMessageAuth(b, s.Secret, wire[4:20])
	switch {
	case errors.Is(err, ErrNoMessageAuth):
		if hasAttr(r, 79) {
			return nil, fmt.Errorf("%w with an EAP-Message", ErrNoMessageAuth)
		}
		if s.RequireMessageAuth && r.Code != radius.CodeAccountingResponse {
			return nil, fmt.Errorf("%w (require-message-auth=yes)", ErrNoMessageAuth)
		}
	case err != nil:
		return nil, err
	}
	return r, nil
}

// NewSessionID returns a random Acct-Session-Id.
func NewSessionID() string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%X", b)
}

// AcctStatus values (RFC 2866 5.1).
const (
	AcctStart   = rfc2866.AcctStatusType_Value_Start
	AcctStop    = rfc2866.AcctStatusType_Value_Stop
	AcctInterim = rfc2866.AcctStatusType_Value_InterimUpdate
)
