package ipsec

import (
	"context"
	"strings"
	"testing"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/script"
)

// TestFindWhereSecret: find and print where on a sensitive property compare the real
// value for a user who may see it (remove [find where secret=""] took every identity
// when secrets read as ""); a user who may not see it selects nothing by it.
func TestFindWhereSecret(t *testing.T) {
	ex := controltest.New(t)
	in := &script.Interp{Ex: ex, Globals: &script.Globals{}}
	run := func(sens bool, src string) string {
		t.Helper()
		var b strings.Builder
		con := &script.Console{Sess: &control.Session{User: "admin", ShowSensitive: sens}}
		if err := in.Run(context.Background(), con, src, &b); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return strings.TrimSpace(b.String())
	}
	run(true, `/ip ipsec peer add name=rp1 address=198.18.0.2/32
/ip ipsec identity add peer=rp1 secret=abc123xyz remote-id=fqdn:t1.example
/ip ipsec identity add peer=rp1 secret="" remote-id=fqdn:t2.example auth-method=eap-radius`)
	for _, c := range []struct {
		sens       bool
		where, out string
	}{
		{true, `secret=""`, "1"},
		{true, `secret="abc123xyz"`, "1"},
		{true, `secret~"abc"`, "1"},
		{true, `secret!=""`, "1"},
		{false, `secret="abc123xyz"`, "0"},
	} {
		if got := run(c.sens, `:put [/ip ipsec identity print count-only where `+c.where+`]`); got != c.out {
			t.Errorf("sensitive=%v where %s: %s, want %s", c.sens, c.where, got, c.out)
		}
	}
	run(true, `/ip ipsec identity remove [find where peer=rp1 and secret=""]`)
	if got := run(true, `:put [/ip ipsec identity get [find] remote-id]`); got != "fqdn:t1.example" {
		t.Errorf("after removing the identity with an empty secret: %q left", got)
	}
	if got := run(true, `:put [/ip ipsec identity print as-value]`); strings.Contains(got, "abc123xyz") {
		t.Errorf("print without show-sensitive shows the secret: %s", got)
	}
}
