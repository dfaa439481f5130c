package firewall

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/controltest"
)

// TestIfListErrorFailsPass: members of an interface list that cannot be resolved (the
// link engine cannot dump the links) fail the pass with the reason, and the kernel
// keeps the rules it has (issue 10: the link engine logged the error and returned no
// members, so in-interface-list=LAN compiled to a rule matching nothing, and
// !in-interface-list to one matching everything). Once the members resolve again, the
// rule is applied.
func TestIfListErrorFailsPass(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/interface list add name=LAN`)
	r.run(t, `/ip firewall filter add chain=forward action=accept comment=first`)
	before := ruleset(t, tp)
	r.e.passMu.Lock()
	r.e.opts.IfLists = func(name string) ([]string, error) { return nil, unix.ENOBUFS }
	r.e.passMu.Unlock()
	_, err := r.try(`/ip firewall filter add chain=forward in-interface-list=!LAN action=drop comment=notlan`)
	if err == nil || !strings.Contains(err.Error(), "interface list LAN: no buffer space available") {
		t.Fatalf("pass with the list's members unknown: %v", err)
	}
	if after := ruleset(t, tp); after != before {
		t.Errorf("the kernel's rules changed without the list's members:\n%s\nwas\n%s", after, before)
	}
	r.e.passMu.Lock()
	r.e.opts.IfLists = func(name string) ([]string, error) { return []string{"r1"}, nil }
	r.e.passMu.Unlock()
	if _, err := r.try(`:put ok`); err != nil {
		t.Fatal(err)
	}
	if rs := ruleset(t, tp); !strings.Contains(rs, `iifname != "r1"`) {
		t.Errorf("rule not applied once the members resolve:\n%s", rs)
	}
}

// TestListTimerErrorShown: what an address-list timer could not do (here: the store
// refused to remove expired entries; its other tasks are the none-static entries and
// creation times) is shown on the family's address-list entries by the next pass, which
// the timer asks for, until its next try succeeds (issue 10: it was only logged).
func TestListTimerErrorShown(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall address-list add list=ban address=198.18.9.9`)
	r.run(t, `/ipv6 firewall address-list add list=ban6 address=2001:db8::9`)
	status := func() string {
		return controltest.State(t, r.ex, listPath(false), "address", "198.18.9.9").Status
	}
	if s := status(); s != "" {
		t.Fatalf("status before: %q", s)
	}
	r.e.setListErr(false, "expiry", unix.EROFS, "expired address-list entries not removed")
	r.run(t, `:put pass`)
	if s := status(); s != "expired address-list entries not removed: read-only file system" {
		t.Errorf("status with the timer failing: %q", s)
	}
	if st := controltest.State(t, r.ex, listPath(true), "list", "ban6"); st.Status != "" {
		t.Errorf("IPv6 entry: %+v", st)
	}
	r.e.setListErr(false, "expiry", nil, "expired address-list entries not removed")
	r.run(t, `:put pass`)
	if s := status(); s != "" {
		t.Errorf("status once the timer succeeded: %q", s)
	}
}

// TestLogListenErrorShown: when the nflog group cannot be bound at start, the rules that
// log say their lines do not reach /log (issue 10: only a warning at start); other
// rules do not.
func TestLogListenErrorShown(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.e.passMu.Lock()
	r.e.logErr = unix.EBUSY
	r.e.passMu.Unlock()
	r.run(t, `/ip firewall filter add chain=input action=log comment=a`)
	r.run(t, `/ip firewall filter add chain=input action=accept log=yes comment=b`)
	r.run(t, `/ip firewall filter add chain=input action=accept comment=c`)
	for c, want := range map[string]string{"a": "log lines do not reach /log: device or resource busy",
		"b": "log lines do not reach /log: device or resource busy", "c": ""} {
		if st := controltest.State(t, r.ex, rulePath(false, "filter"), "comment", c); st.Status != want {
			t.Errorf("rule %s: %+v, want status %q", c, st, want)
		}
	}
}
