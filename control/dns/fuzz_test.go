package dns

import (
	"context"
	"regexp"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// FuzzAnswer feeds arbitrary datagrams through the query path (unpack, statics, cache,
// a forward to an upstream that answers with the fuzzer's bytes) and packs the answer:
// nothing may panic and every answer must pack.
func FuzzAnswer(f *testing.F) {
	q := new(mdns.Msg)
	q.SetQuestion("router.lan.", mdns.TypeA)
	b, _ := q.Pack()
	f.Add(b, b)
	q.SetQuestion("x.example.", mdns.TypeTXT)
	b2, _ := q.Pack()
	f.Add(b2, []byte{0, 1, 2})
	s := NewServer(Config{CacheBytes: 64 << 10, MaxTTL: time.Hour, MaxUDP: 1232,
		ServerTimeout: time.Second, TotalTimeout: time.Second, Servers: []string{"up"},
		Statics: []Static{
			{ID: 1, Name: "router.lan.", Type: "A", TTL: 60},
			{ID: 2, Re: regexp.MustCompile("^ads"), Type: "NXDOMAIN"},
			{ID: 3, Name: "lan.", Type: "MX", Target: "mail.lan", Subdomain: true},
		}})
	f.Fuzz(func(t *testing.T, query, upstream []byte) {
		req := new(mdns.Msg)
		if err := req.Unpack(query); err != nil {
			return
		}
		s.Exchange = func(_ context.Context, m *mdns.Msg, _ string, _ bool) (*mdns.Msg, error) {
			r := new(mdns.Msg)
			if err := r.Unpack(upstream); err != nil {
				return nil, err
			}
			return r, nil
		}
		resp := s.Answer(context.Background(), req)
		if resp == nil {
			return
		}
		resp.Truncate(1232)
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("answer does not pack: %v", err)
		}
		s.CacheRows()
	})
}
