package firewall

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a buffer the engine's goroutines write log lines to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestKernelNameLimits: names at the kernel's limits apply; one character more is
// refused at add and set with the reason, and the kernel's ruleset stays as it was (before,
// add accepted them and every later pass failed in the kernel).
func TestKernelNameLimits(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	chain := strings.Repeat("c", chainNameMax("filter"))
	list := strings.Repeat("l", listNameMax)
	var logged syncBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	r.run(t, `/ip firewall filter add chain=forward action=jump jump-target=`+chain+`
/ip firewall filter add chain=`+chain+` log=yes protocol=icmp action=passthrough comment=longlog
/ip firewall filter add chain=`+chain+` src-address-list=`+list+` action=accept comment=limits
/ip firewall address-list add list=`+list+` address=198.18.1.2`)
	// log-prefix gets the same room whatever the chain is called: the chain's name is
	// left out of the kernel's prefix when it does not fit, and the log line has it all
	// the same.
	short := strings.Repeat("c", 40)
	prefixRoom := logPrefixRoom("filter")
	r.run(t, `/ip firewall filter add chain=`+short+` log=yes log-prefix=`+strings.Repeat("p", prefixRoom)+` comment=logged
/ip firewall filter add chain=`+chain+` action=log log-prefix=`+strings.Repeat("q", prefixRoom))
	if !tp.ping(tp.c, "198.19.2.2") {
		t.Fatal("no ping through the router")
	}
	if n := r.counter(t, "/ip firewall filter", "limits"); n == 0 {
		t.Fatalf("the rule in the longest chain matched nothing\n%s", ruleset(t, tp))
	}
	want := chain + ": in:lan out:wan, "
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logged.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("no log line of the rule in the longest chain:\n%s", logged.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := ruleset(t, tp)
	for _, bad := range []struct{ src, want string }{
		{`/ip firewall filter add chain=c` + chain + ` action=accept`, "chain too long"},
		{`/ip firewall filter add chain=forward action=jump jump-target=c` + chain, "jump-target too long"},
		{`/ip firewall filter add chain=forward src-address-list=l` + list, "src-address-list too long"},
		{`/ip firewall filter add chain=forward dst-address-list=!l` + list, "dst-address-list too long"},
		{`/ip firewall filter add chain=forward action=add-src-to-address-list address-list=l` + list, "address-list too long"},
		{`/ip firewall filter set [find comment=limits] chain=c` + chain, "chain too long"},
		{`/ip firewall address-list add list=l` + list + ` address=198.18.1.3`, "list too long"},
		{`/ip firewall address-list set [find address=198.18.1.2] list=l` + list, "list too long"},
		{`/ip firewall filter add chain=` + short + ` log=yes log-prefix=p` + strings.Repeat("p", prefixRoom), "log-prefix too long"},
		{`/ip firewall filter add chain=forward action=log log-prefix=p` + strings.Repeat("p", prefixRoom), "log-prefix too long (at most"},
		{`/ipv6 firewall filter add chain=c` + strings.Repeat("c", chainNameMax("filter")) + ` action=accept`, "chain too long"},
	} {
		out, err := r.try(bad.src)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%.80s...: %v %s, want %q", bad.src, err, out, bad.want)
		}
	}
	if after := ruleset(t, tp); after != before {
		t.Errorf("refused commands changed the kernel:\n%s", after)
	}
}
