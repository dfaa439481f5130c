package control_test

import (
	"context"
	"testing"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

// TestProspective: a check wrapped around add, set and enable sees the rows as the
// command would leave them (the firewall's address-list and the IPsec tunnel checks rely
// on it), and the values as the generic command parses them.
func TestProspective(t *testing.T) {
	ex := newExecutor(t)
	const path = "/interface/gre"
	var got []store.Item
	for _, cmd := range []string{"add", "set", "enable"} {
		fn, spec, ok := ex.Generic(path, cmd)
		if !ok {
			t.Fatalf("no generic %s", cmd)
		}
		ex.Handle(path, cmd, spec, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
			vals, err := control.ArgValues(c, "remote-address", "mtu")
			if err != nil {
				return nil, err
			}
			got = nil
			if err := ex.View(c.Sess, func(tx *store.Tx) error {
				got = ex.Prospective(tx, c, vals)
				return nil
			}); err != nil {
				return nil, err
			}
			return fn(ctx, c)
		})
	}
	sess := &control.Session{}
	mustExec(t, ex, sess, path, "add", "name=g1", "remote-address=198.18.0.2", "mtu=1400", "comment=not asked for")
	if len(got) != 1 || got[0].ID != 0 || len(got[0].Props) != 2 ||
		got[0].Props["remote-address"] != "198.18.0.2" || got[0].Props["mtu"] != "1400" {
		t.Fatalf("add: prospective rows %v, want one new row with remote-address and mtu", got)
	}
	mustExec(t, ex, sess, path, "add", "name=g2", "remote-address=198.18.0.3", "disabled=yes")
	mustExec(t, ex, sess, path, "set", "numbers=g1,g2", "remote-address=198.18.0.9")
	if len(got) != 2 || got[0].ID == 0 || got[0].Props["name"] != "g1" || got[1].Props["name"] != "g2" ||
		got[0].Props["remote-address"] != "198.18.0.9" || got[1].Props["remote-address"] != "198.18.0.9" ||
		got[0].Props["mtu"] != "1400" {
		t.Fatalf("set: prospective rows %v, want g1 and g2 with the new remote-address over their props", got)
	}
	mustExec(t, ex, sess, path, "enable", "numbers=g2")
	if len(got) != 1 || got[0].Props["name"] != "g2" || got[0].Props["disabled"] != "no" {
		t.Fatalf("enable: prospective rows %v, want g2 enabled", got)
	}
	// A reference naming nothing gives no rows: the generic command reports it.
	got = []store.Item{{}}
	rep, err := exec(ex, sess, path, "set", "numbers=nosuch", "mtu=1300")
	if err == nil || len(got) != 0 {
		t.Fatalf("set numbers=nosuch: rows %v, err %v (reply %v)", got, err, rep)
	}
	// A value that does not parse is refused in the generic command's words.
	plain := newExecutor(t)
	mustExec(t, plain, sess, path, "add", "name=g1", "remote-address=198.18.0.2")
	_, want := exec(plain, sess, path, "set", "numbers=g1", "mtu=99999")
	_, err = exec(ex, sess, path, "set", "numbers=g1", "mtu=99999")
	if want == nil || err == nil || err.Error() != want.Error() {
		t.Fatalf("mtu=99999: checked %v, generic %v", err, want)
	}
}
