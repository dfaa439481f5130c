package dns

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/value"
)

// Menu paths.
const (
	SettingsPath = menu.DNSPath
	StaticPath   = menu.DNSStaticPath
	CachePath    = menu.DNSCachePath
	CacheAllPath = menu.DNSCacheAllPath
)

// Config is the decoded configuration.
type Config struct {
	Listen        bool
	Servers       []string // host:port
	CacheBytes    int
	MaxTTL        time.Duration
	MaxUDP        int
	ServerTimeout time.Duration
	TotalTimeout  time.Duration
	Statics       []Static
}

// Static is one /ip dns static entry.
type Static struct {
	ID        uint64
	Name      string // fqdn, lower case
	Re        *regexp.Regexp
	Type      string
	Addr      netip.Addr
	Target    string // cname, mx-exchange, ns, forward-to
	Text      string
	Pref      uint16
	Port      uint16 // SRV
	Weight    uint16 // SRV
	TTL       uint32
	Subdomain bool
}

// DefaultConfig is /ip dns with nothing set.
func DefaultConfig() Config {
	return Config{CacheBytes: 2048 << 10, MaxTTL: 7 * 24 * time.Hour, MaxUDP: 4096,
		ServerTimeout: 2 * time.Second, TotalTimeout: 10 * time.Second}
}

// entry is one cached answer.
type entry struct {
	key     string
	msg     *mdns.Msg
	expires time.Time
	size    int
	elem    *list.Element
}

// Server answers queries.
type Server struct {
	mu    sync.Mutex
	cfg   Config
	cache map[string]*entry
	lru   *list.List
	used  int
	now   func() time.Time
	// Exchange asks an upstream server; tests may replace it.
	Exchange func(ctx context.Context, m *mdns.Msg, server string, tcp bool) (*mdns.Msg, error)
}

// NewServer returns a server with cfg.
func NewServer(cfg Config) *Server {
	s := &Server{cfg: cfg, cache: map[string]*entry{}, lru: list.New(), now: time.Now}
	s.Exchange = s.exchange
	return s
}

// SetConfig replaces the configuration; a smaller cache evicts at once.
func (s *Server) SetConfig(cfg Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg = cfg
	s.evictLocked()
}

func (s *Server) config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

func cacheKey(q mdns.Question) string {
	return strings.ToLower(q.Name) + "/" + strconv.Itoa(int(q.Qtype)) + "/" + strconv.Itoa(int(q.Qclass))
}

// ServeDNS implements mdns.Handler.
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	resp := s.Answer(context.Background(), req)
	if resp == nil {
		return
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		max := mdns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			max = int(o.UDPSize())
		}
		if cfg := s.config(); max > cfg.MaxUDP {
			max = cfg.MaxUDP
		}
		resp.Truncate(max)
	}
	w.WriteMsg(resp)
}

// Answer builds the response to req: statics, then the cache, then upstream. nil means
// drop (a response, not a query).
func (s *Server) Answer(ctx context.Context, req *mdns.Msg) *mdns.Msg {
	if req.Response {
		return nil
	}
	resp := new(mdns.Msg)
	if req.Opcode != mdns.OpcodeQuery || len(req.Question) != 1 {
		resp.SetRcode(req, mdns.RcodeNotImplemented)
		if len(req.Question) != 1 {
			resp.SetRcode(req, mdns.RcodeFormatError)
		}
		return resp
	}
	q := req.Question[0]
	cfg := s.config()
	if st, ok := matchStatic(cfg.Statics, q.Name); ok {
		if st.Type == "FWD" {
			return s.forward(ctx, req, cfg, []string{net.JoinHostPort(st.Target, "53")})
		}
		return staticAnswer(req, st, cfg.Statics)
	}
	if m := s.cached(q); m != nil {
		rc := m.Rcode
		m.SetReply(req)
		m.Rcode = rc
		m.RecursionAvailable = true
		return m
	}
	return s.forward(ctx, req, cfg, cfg.Servers)
}

// forward asks servers in turn and caches what comes back.
func (s *Server) forward(ctx context.Context, req *mdns.Msg, cfg Config, servers []string) *mdns.Msg {
	resp := new(mdns.Msg)
	resp.SetRcode(req, mdns.RcodeServerFailure)
	resp.RecursionAvailable = true
	if len(servers) == 0 {
		return resp
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.TotalTimeout)
	defer cancel()
	up := new(mdns.Msg)
	up.SetQuestion(req.Question[0].Name, req.Question[0].Qtype)
	up.Question[0].Qclass = req.Question[0].Qclass
	up.RecursionDesired = true
	up.SetEdns0(uint16(cfg.MaxUDP), false)
	for _, srv := range servers {
		sctx, scancel := context.WithTimeout(ctx, cfg.ServerTimeout)
		m, err := s.Exchange(sctx, up, srv, false)
		if err == nil && m.Truncated {
			m, err = s.Exchange(sctx, up, srv, true)
		}
		scancel()
		if err != nil || m.Rcode == mdns.RcodeServerFailure || m.Rcode == mdns.RcodeRefused {
			continue
		}
		s.store(req.Question[0], m, cfg)
		out := m.Copy()
		out.SetReply(req)
		out.Rcode = m.Rcode
		out.RecursionAvailable = true
		out.Extra = nil
		return out
	}
	return resp
}

func (s *Server) exchange(ctx context.Context, m *mdns.Msg, server string, tcp bool) (*mdns.Msg, error) {
	c := &mdns.Client{Net: "udp", UDPSize: m.IsEdns0().UDPSize()}
	if tcp {
		c.Net = "tcp"
	}
	r, _, err := c.ExchangeContext(ctx, m, server)
	return r, err
}

// ttlOf is the time an answer may be cached: its smallest TTL (the SOA minimum for a
// negative answer), bounded by max.
func ttlOf(m *mdns.Msg, max time.Duration) time.Duration {
	var ttl uint32 = 1<<32 - 1
	rrs := append(append([]mdns.RR{}, m.Answer...), m.Ns...)
	for _, rr := range rrs {
		h := rr.Header()
		t := h.Ttl
		if soa, ok := rr.(*mdns.SOA); ok && len(m.Answer) == 0 && soa.Minttl < t {
			t = soa.Minttl
		}
		if t < ttl {
			ttl = t
		}
	}
	if len(rrs) == 0 {
		return 0
	}
	d := time.Duration(ttl) * time.Second
	if d > max {
		d = max
	}
	return d
}

// store caches m for q.
func (s *Server) store(q mdns.Question, m *mdns.Msg, cfg Config) {
	if m.Rcode != mdns.RcodeSuccess && m.Rcode != mdns.RcodeNameError {
		return
	}
	ttl := ttlOf(m, cfg.MaxTTL)
	if ttl <= 0 {
		return
	}
	c := m.Copy()
	c.Extra = nil
	size := c.Len()
	s.mu.Lock()
	defer s.mu.Unlock()
	key := cacheKey(q)
	if old, ok := s.cache[key]; ok {
		s.dropLocked(old)
	}
	e := &entry{key: key, msg: c, expires: s.now().Add(ttl), size: size}
	e.elem = s.lru.PushFront(e)
	s.cache[key] = e
	s.used += size
	s.evictLocked()
}

func (s *Server) dropLocked(e *entry) {
	s.lru.Remove(e.elem)
	delete(s.cache, e.key)
	s.used -= e.size
}

func (s *Server) evictLocked() {
	for s.used > s.cfg.CacheBytes && s.lru.Len() > 0 {
		s.dropLocked(s.lru.Back().Value.(*entry))
	}
}

// cached returns a copy of q's cached answer with TTLs counted down, or nil.
func (s *Server) cached(q mdns.Question) *mdns.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.cache[cacheKey(q)]
	if !ok {
		return nil
	}
	left := e.expires.Sub(s.now())
	if left <= 0 {
		s.dropLocked(e)
		return nil
	}
	s.lru.MoveToFront(e.elem)
	m := e.msg.Copy()
	secs := uint32((left + time.Second - 1) / time.Second)
	for _, rrs := range [][]mdns.RR{m.Answer, m.Ns} {
		for _, rr := range rrs {
			if rr.Header().Ttl > secs {
				rr.Header().Ttl = secs
			}
		}
	}
	return m
}

// Flush empties the cache.
func (s *Server) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cache = map[string]*entry{}
	s.lru.Init()
	s.used = 0
}

// CacheRows lists the cached records (name, type, data, ttl left).
func (s *Server) CacheRows() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]string
	now := s.now()
	for e := s.lru.Front(); e != nil; e = e.Next() {
		en := e.Value.(*entry)
		left := en.expires.Sub(now)
		if left <= 0 {
			continue
		}
		for _, rr := range en.msg.Answer {
			h := rr.Header()
			data := strings.TrimPrefix(rr.String(), h.String())
			out = append(out, map[string]string{"name": strings.TrimSuffix(h.Name, "."),
				"type": mdns.TypeToString[h.Rrtype], "data": data,
				"ttl": value.FormatDuration(left.Truncate(time.Second))})
		}
		if len(en.msg.Answer) == 0 && len(en.msg.Question) > 0 {
			q := en.msg.Question[0]
			out = append(out, map[string]string{"name": strings.TrimSuffix(q.Name, "."),
				"type": mdns.TypeToString[q.Qtype], "data": mdns.RcodeToString[en.msg.Rcode],
				"ttl": value.FormatDuration(left.Truncate(time.Second))})
		}
	}
	return out
}

// UsedKiB is the cache's size.
func (s *Server) UsedKiB() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return (s.used + 1023) / 1024
}

// matchStatic finds the first enabled static entry for name.
func matchStatic(sts []Static, name string) (Static, bool) {
	n := strings.ToLower(mdns.Fqdn(name))
	for _, st := range sts {
		switch {
		case st.Re != nil:
			if st.Re.MatchString(strings.TrimSuffix(n, ".")) {
				return st, true
			}
		case st.Name == n:
			return st, true
		case st.Subdomain && strings.HasSuffix(n, "."+st.Name):
			return st, true
		}
	}
	return Static{}, false
}

// staticAnswer answers from a static entry; a query for another type of a name that has
// statics gets an empty answer (NOERROR), as for any existing name.
func staticAnswer(req *mdns.Msg, st Static, all []Static) *mdns.Msg {
	resp := new(mdns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	q := req.Question[0]
	if st.Type == "NXDOMAIN" {
		resp.Rcode = mdns.RcodeNameError
		return resp
	}
	resp.Answer = staticRecords(q, all)
	// A CNAME whose target has statics of the asked type carries them too (up to a few
	// links), so a stub resolver needs no second query.
	for i := 0; i < 8 && q.Qtype != mdns.TypeCNAME && len(resp.Answer) > 0; i++ {
		c, ok := resp.Answer[len(resp.Answer)-1].(*mdns.CNAME)
		if !ok {
			break
		}
		st, ok := matchStatic(all, strings.ToLower(c.Target))
		if !ok || st.Type == "FWD" || st.Type == "NXDOMAIN" {
			break
		}
		more := staticRecords(mdns.Question{Name: c.Target, Qtype: q.Qtype, Qclass: q.Qclass}, all)
		if len(more) == 0 {
			break
		}
		resp.Answer = append(resp.Answer, more...)
	}
	return resp
}

// static checks one enabled static entry and turns it into what the server answers from.
func (c staticItem) static(id uint64) (Static, error) {
	st := Static{ID: id, Type: c.Type, Target: c.CNAME, Text: c.Text, Subdomain: c.Subdomain,
		TTL: uint32(c.TTL / time.Second)}
	if st.Type == "" {
		st.Type = "A"
	}
	if n := c.Name; n != "" {
		if _, ok := mdns.IsDomainName(n); !ok {
			return st, fmt.Errorf("invalid name %q", n)
		}
		st.Name = strings.ToLower(mdns.Fqdn(n))
	}
	if c.Regexp != "" {
		r, err := regexp.CompilePOSIX(c.Regexp)
		if err != nil {
			return st, fmt.Errorf("invalid regexp: %w", err)
		}
		st.Re = r
	}
	if st.Name == "" && st.Re == nil {
		return st, errors.New("needs name or regexp")
	}
	switch st.Type {
	case "A", "AAAA":
		if !c.Address.IsValid() || (st.Type == "A") != c.Address.Is4() {
			return st, fmt.Errorf("type %s needs an IPv%s address", st.Type, map[bool]string{true: "4", false: "6"}[st.Type == "A"])
		}
		st.Addr = c.Address
	case "CNAME":
		if st.Target == "" {
			return st, errors.New("type CNAME needs cname")
		}
	case "MX":
		st.Target, st.Pref = c.MX, c.MXPref
		if st.Target == "" {
			return st, errors.New("type MX needs mx-exchange")
		}
	case "NS":
		st.Target = c.NS
		if st.Target == "" {
			return st, errors.New("type NS needs ns")
		}
	case "SRV":
		st.Target, st.Port, st.Pref, st.Weight = c.SRVTarget, c.SRVPort, c.SRVPrio, c.SRVWeight
		if st.Target == "" {
			return st, errors.New("type SRV needs srv-target")
		}
	case "FWD":
		st.Target = c.ForwardTo
		if _, err := netip.ParseAddr(st.Target); err != nil {
			return st, errors.New("type FWD needs forward-to")
		}
	}
	return st, nil
}

// logServeError reports a listener failure once.
func logServeError(proto string, err error) {
	if err != nil {
		slog.Warn("dns: server stopped", "proto", proto, "err", err)
	}
}

// staticRecords are the records of the statics named q.Name of q's type (a CNAME
// whatever the type).
func staticRecords(q mdns.Question, all []Static) []mdns.RR {
	hdr := func(t uint16, ttl uint32) mdns.RR_Header {
		return mdns.RR_Header{Name: q.Name, Rrtype: t, Class: mdns.ClassINET, Ttl: ttl}
	}
	var out []mdns.RR
	for _, e := range all {
		if m, ok := matchStatic([]Static{e}, q.Name); !ok || m.ID != e.ID {
			continue
		}
		var rr mdns.RR
		switch e.Type {
		case "A":
			if q.Qtype == mdns.TypeA && e.Addr.Is4() {
				rr = &mdns.A{Hdr: hdr(mdns.TypeA, e.TTL), A: e.Addr.AsSlice()}
			}
		case "AAAA":
			if q.Qtype == mdns.TypeAAAA && e.Addr.Is6() {
				rr = &mdns.AAAA{Hdr: hdr(mdns.TypeAAAA, e.TTL), AAAA: e.Addr.AsSlice()}
			}
		case "CNAME":
			rr = &mdns.CNAME{Hdr: hdr(mdns.TypeCNAME, e.TTL), Target: mdns.Fqdn(e.Target)}
		case "MX":
			if q.Qtype == mdns.TypeMX {
				rr = &mdns.MX{Hdr: hdr(mdns.TypeMX, e.TTL), Preference: e.Pref, Mx: mdns.Fqdn(e.Target)}
			}
		case "NS":
			if q.Qtype == mdns.TypeNS {
				rr = &mdns.NS{Hdr: hdr(mdns.TypeNS, e.TTL), Ns: mdns.Fqdn(e.Target)}
			}
		case "TXT":
			if q.Qtype == mdns.TypeTXT {
				rr = &mdns.TXT{Hdr: hdr(mdns.TypeTXT, e.TTL), Txt: []string{e.Text}}
			}
		case "SRV":
			if q.Qtype == mdns.TypeSRV {
				rr = &mdns.SRV{Hdr: hdr(mdns.TypeSRV, e.TTL), Priority: e.Pref, Weight: e.Weight,
					Port: e.Port, Target: mdns.Fqdn(e.Target)}
			}
		}
		if rr != nil {
			out = append(out, rr)
		}
	}
	return out
}
