package hostname

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
)

// fakeAsk answers every name with addr and ttl (or err), counting the questions.
type fakeAsk struct {
	addr  netip.Addr
	ttl   time.Duration
	err   error
	asked atomic.Int64
}

func (f *fakeAsk) ask(context.Context, *control.Executor, string, string) ([]netip.Addr, time.Duration, error) {
	f.asked.Add(1)
	if f.err != nil {
		return nil, 0, f.err
	}
	return []netip.Addr{f.addr}, f.ttl, nil
}

// fakeResolver is a Resolver whose questions fakeAsk answers (198.18.0.1, TTL 1m) and
// whose clock is *now.
func fakeResolver(t *testing.T) (*Resolver, *fakeAsk, *time.Time) {
	r := New(controltest.New(t))
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	f := &fakeAsk{addr: netip.MustParseAddr("198.18.0.1"), ttl: time.Minute}
	r.ask = f.ask
	return r, f, &now
}

// TestResolverTTL: an answer is kept for its TTL, held between MinTTL and MaxTTL, then
// asked again; a name that stops resolving keeps its last addresses (asked again after
// MinTTL); one that never resolved is an error, asked again after MinTTL; a literal
// address is never asked; a bad name is refused without asking.
func TestResolverTTL(t *testing.T) {
	r, f, now := fakeResolver(t)
	ctx := context.Background()
	look := func(want string, asked int64) {
		t.Helper()
		got, err := r.Lookup(ctx, "ip4", "Hq.Example.net.")
		if err != nil || len(got) != 1 || got[0].String() != want || f.asked.Load() != asked {
			t.Fatalf("at %v: %v %v after %d questions, want %s after %d", now.Format(time.TimeOnly), got, err, f.asked.Load(), want, asked)
		}
	}
	look("198.18.0.1", 1)
	*now = now.Add(59 * time.Second)
	look("198.18.0.1", 1) // within the TTL: the cache answers
	*now = now.Add(2 * time.Second)
	f.addr = netip.MustParseAddr("198.18.0.2")
	look("198.18.0.2", 2) // expired: asked again, the new address

	f.ttl = 0 // held at MinTTL
	*now = now.Add(time.Minute)
	look("198.18.0.2", 3)
	*now = now.Add(MinTTL - time.Second)
	look("198.18.0.2", 3)
	f.ttl = 30 * 24 * time.Hour // held at MaxTTL
	*now = now.Add(time.Second)
	look("198.18.0.2", 4)
	*now = now.Add(MaxTTL)
	look("198.18.0.2", 5)

	// The server stops answering: the last address stays, asked again after MinTTL.
	f.err = ErrNotFound
	*now = now.Add(MaxTTL)
	look("198.18.0.2", 6)
	*now = now.Add(MinTTL)
	look("198.18.0.2", 7)

	if _, err := r.Lookup(ctx, "ip4", "never.example.net"); !errors.Is(err, ErrNotFound) || f.asked.Load() != 8 {
		t.Fatalf("a name that never resolved: %v after %d questions", err, f.asked.Load())
	}
	if _, err := r.Lookup(ctx, "ip4", "never.example.net"); !errors.Is(err, ErrNotFound) || f.asked.Load() != 8 {
		t.Fatalf("the failure is not kept for MinTTL: %v after %d questions", err, f.asked.Load())
	}
	if got, err := r.Lookup(ctx, "ip", "198.18.9.9"); err != nil || got[0] != netip.MustParseAddr("198.18.9.9") || f.asked.Load() != 8 {
		t.Errorf("a literal address: %v %v", got, err)
	}
	for _, bad := range []string{"", "a..b", "-x.example", "bad name", "x/y"} {
		if _, err := r.Lookup(ctx, "ip", bad); !errors.Is(err, ErrBadName) {
			t.Errorf("%q: %v, want ErrBadName", bad, err)
		}
	}
	if f.asked.Load() != 8 {
		t.Errorf("bad names were asked")
	}
}

// TestResolverOutageSaidOnce: a name that stops resolving is warned about once for the
// whole outage (it is asked again every MinTTL), and its return is said once (QA: a
// failing address-list name wrote a warning every 6 s for as long as it failed).
func TestResolverOutageSaidOnce(t *testing.T) {
	r, f, now := fakeResolver(t)
	var buf strings.Builder
	var mu sync.Mutex
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	ctx := context.Background()
	count := func(s string) int {
		mu.Lock()
		defer mu.Unlock()
		return strings.Count(buf.String(), s)
	}
	if _, err := r.Lookup(ctx, "ip4", "hq.example.net"); err != nil {
		t.Fatal(err)
	}
	f.err = ErrNotFound
	for range 5 {
		*now = now.Add(2 * time.Minute)
		if got, err := r.Lookup(ctx, "ip4", "hq.example.net"); err != nil || len(got) != 1 {
			t.Fatalf("during the outage: %v %v", got, err)
		}
	}
	if n := count("did not resolve"); n != 1 || f.asked.Load() != 6 {
		t.Fatalf("%d warnings after %d questions in one outage, want 1 after 6:\n%s", n, f.asked.Load(), buf.String())
	}
	f.err = nil
	*now = now.Add(2 * time.Minute)
	r.Lookup(ctx, "ip4", "hq.example.net")
	f.err = ErrNotFound
	*now = now.Add(2 * time.Minute)
	r.Lookup(ctx, "ip4", "hq.example.net")
	if again, warned := count("resolves again"), count("did not resolve"); again != 1 || warned != 2 {
		t.Fatalf("after the name came back and failed again: %d 'resolves again', %d warnings, want 1 and 2:\n%s", again, warned, buf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestResolverRefresh: Run's refresh asks again the names whose TTL ran out, reports
// a changed answer (so OnChange kicks the engines), and forgets names no engine looked
// up within MaxTTL.
func TestResolverRefresh(t *testing.T) {
	r, f, now := fakeResolver(t)
	ctx := context.Background()
	if _, err := r.Lookup(ctx, "ip4", "hq.example.net"); err != nil {
		t.Fatal(err)
	}
	if r.refresh(ctx) || f.asked.Load() != 1 {
		t.Fatalf("refresh within the TTL asked (%d questions) or reported a change", f.asked.Load())
	}
	*now = now.Add(time.Minute)
	if r.refresh(ctx) || f.asked.Load() != 2 {
		t.Fatalf("refresh of an unchanged record: %d questions, want 2, and no change", f.asked.Load())
	}
	f.addr = netip.MustParseAddr("198.18.0.2")
	*now = now.Add(time.Minute)
	if !r.refresh(ctx) {
		t.Fatal("a changed record was not reported")
	}
	if got, _ := r.Lookup(ctx, "ip4", "hq.example.net"); got[0] != f.addr || f.asked.Load() != 3 {
		t.Errorf("after the refresh: %v (%d questions), want the new address from the cache", got, f.asked.Load())
	}
	*now = now.Add(MaxTTL + time.Second)
	r.refresh(ctx)
	r.mu.Lock()
	n := len(r.cache)
	r.mu.Unlock()
	if n != 0 {
		t.Errorf("a name unused for MaxTTL is still refreshed (%d cached)", n)
	}
}

// TestResolverFollowsDNS: a static entry answers with its ttl=; changing it (or /ip dns
// settings) empties the cache and calls OnChange, so the next Lookup sees the new
// address at once.
func TestResolverFollowsDNS(t *testing.T) {
	ex := controltest.New(t)
	r := New(ex)
	var changes atomic.Int64
	r.OnChange(func() { changes.Add(1) })
	ctx := context.Background()
	controltest.Exec(t, ex, "/ip/dns/static add name=hq.example.net address=198.18.5.2 ttl=1h")
	if changes.Load() == 0 {
		t.Fatal("adding a static entry called no OnChange")
	}
	got, err := r.Lookup(ctx, "ip4", "hq.example.net")
	if err != nil || len(got) != 1 || got[0] != netip.MustParseAddr("198.18.5.2") {
		t.Fatalf("static entry: %v %v", got, err)
	}
	r.mu.Lock()
	a := r.cache[query{"ip4", "hq.example.net"}]
	r.mu.Unlock()
	if d := time.Until(a.expires); d < 59*time.Minute || d > time.Hour {
		t.Errorf("static entry with ttl=1h kept for %v", d)
	}
	before := changes.Load()
	controltest.Exec(t, ex, "/ip/dns/static set hq.example.net address=198.18.5.3")
	if changes.Load() == before {
		t.Error("changing the static entry called no OnChange")
	}
	if got, err := r.Lookup(ctx, "ip4", "hq.example.net"); err != nil || got[0] != netip.MustParseAddr("198.18.5.3") {
		t.Errorf("after the entry changed: %v %v, want 198.18.5.3 at once", got, err)
	}
	// A static CNAME is followed to its static target, with the smaller ttl.
	controltest.Exec(t, ex, "/ip/dns/static add name=alias.example.net type=CNAME cname=hq.example.net ttl=10m")
	if got, err := r.Lookup(ctx, "ip", "alias.example.net"); err != nil || len(got) != 1 || got[0] != netip.MustParseAddr("198.18.5.3") {
		t.Errorf("static CNAME: %v %v, want hq.example.net's 198.18.5.3", got, err)
	}
	r.mu.Lock()
	a = r.cache[query{"ip", "alias.example.net"}]
	r.mu.Unlock()
	if d := time.Until(a.expires); d > 10*time.Minute {
		t.Errorf("CNAME of ttl=10m to an entry of 1h kept for %v", d)
	}
	// A name only an AAAA entry answers has no IPv4 address, and says so.
	controltest.Exec(t, ex, "/ip/dns/static add name=v6.example.net type=AAAA address=2001:db8:6::2")
	if _, err := r.Lookup(ctx, "ip4", "v6.example.net"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no A (IPv4) record") {
		t.Errorf("IPv4 of an AAAA-only static name: %v", err)
	}
	if got, err := r.Lookup(ctx, "ip", "v6.example.net"); err != nil || got[0] != netip.MustParseAddr("2001:db8:6::2") {
		t.Errorf("any address of an AAAA-only static name: %v %v", got, err)
	}
	// A name with several static entries resolves to each address, in their order, with
	// the smallest ttl (an address list holds them all; a tunnel takes the first).
	controltest.Exec(t, ex, "/ip/dns/static add name=multi.example.net address=198.18.5.10 ttl=1h")
	controltest.Exec(t, ex, "/ip/dns/static add name=multi.example.net address=198.18.5.11 ttl=2m")
	controltest.Exec(t, ex, "/ip/dns/static add name=multi.example.net type=AAAA address=2001:db8:6::10")
	got, err = r.Lookup(ctx, "ip4", "multi.example.net")
	if want := []netip.Addr{netip.MustParseAddr("198.18.5.10"), netip.MustParseAddr("198.18.5.11")}; err != nil || !slices.Equal(got, want) {
		t.Errorf("two static A entries: %v %v, want %v", got, err, want)
	}
	if got, err := r.Lookup(ctx, "ip", "multi.example.net"); err != nil || len(got) != 3 {
		t.Errorf("two A and an AAAA entry, any family: %v %v, want all three", got, err)
	}
	r.mu.Lock()
	a = r.cache[query{"ip4", "multi.example.net"}]
	r.mu.Unlock()
	if d := time.Until(a.expires); d > 2*time.Minute {
		t.Errorf("entries of ttl 1h and 2m kept for %v", d)
	}
	controltest.Exec(t, ex, "/ip/dns/static add name=loop.example.net type=CNAME cname=loop.example.net")
	if _, err := r.Lookup(ctx, "ip", "loop.example.net"); !errors.Is(err, ErrNoServers) {
		t.Errorf("a CNAME loop: %v, want the servers asked (none here)", err)
	}
	controltest.Exec(t, ex, "/ip/dns/static remove hq.example.net")
	if _, err := r.Lookup(ctx, "ip4", "hq.example.net"); !errors.Is(err, ErrNoServers) {
		t.Errorf("after the entry went (no servers): %v, want ErrNoServers", err)
	}
}

// TestAnswerCNAME: an answer through CNAMEs is the chain's addresses with the chain's
// smallest TTL; records for other names do not count.
func TestAnswerCNAME(t *testing.T) {
	m := new(mdns.Msg)
	for _, s := range []string{
		"vpn.example.net. 300 IN CNAME edge.example.org.",
		"edge.example.org. 120 IN CNAME pop1.example.org.",
		"other.example.org. 1 IN A 198.18.9.9",
		"pop1.example.org. 600 IN A 198.18.7.1",
		"pop1.example.org. 600 IN A 198.18.7.2",
	} {
		rr, err := mdns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	addrs, ttl := answerOf(m, "VPN.example.net.", mdns.TypeA)
	want := []netip.Addr{netip.MustParseAddr("198.18.7.1"), netip.MustParseAddr("198.18.7.2")}
	if !slices.Equal(addrs, want) || ttl != 120*time.Second {
		t.Errorf("got %v ttl %v, want %v ttl 2m", addrs, ttl, want)
	}
	if addrs, _ := answerOf(m, "vpn.example.net.", mdns.TypeAAAA); len(addrs) != 0 {
		t.Errorf("AAAA from A records: %v", addrs)
	}
}

// TestResolverConcurrent: Lookups from several engines, Flushes from commits and Run's
// refresh at once (run under -race by make test-race).
func TestResolverConcurrent(t *testing.T) {
	r := New(controltest.New(t))
	f := &fakeAsk{addr: netip.MustParseAddr("198.18.0.1")} // TTL 0: held at MinTTL
	r.ask = f.ask
	r.OnChange(func() {})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if _, err := r.Lookup(ctx, "ip4", fmt.Sprintf("h%d-%d.example.net", g, i%7)); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					r.Flush()
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	<-done
}
