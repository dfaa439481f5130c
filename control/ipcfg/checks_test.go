package ipcfg

import (
	"strings"
	"testing"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/store"
)

// TestDuplicateAddr: an address an enabled item has on the interface is refused
// whatever its prefix length or spelling, in a read-only transaction before the key
// index exists (scan), in an import's batch (the index, built there) and in a read-only
// one after it (the index); disabled items and other interfaces do not count.
func TestDuplicateAddr(t *testing.T) {
	r := newPlanRig(t, newFakeKernel("ether1", "ether2"))
	exec := func(sess *control.Session, line, wantErr string) {
		t.Helper()
		err := controltest.RunIn(r.ex, sess, line)
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%s: %v", line, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%s: got %v, want %q", line, err, wantErr)
		}
	}
	const dup = "already have such address"
	indexed := func() bool {
		var ok bool
		_ = r.ex.Store.View(func(tx *store.Tx) error { ok = tx.Indexed(Addr4Path, addrKeyProps); return nil })
		return ok
	}
	// Read-only, no index yet: the scan.
	exec(nil, "/ip/address add address=198.18.0.1/24 interface=ether1", "")
	exec(nil, "/ip/address add address=198.18.0.1/32 interface=ether1", dup)
	exec(nil, "/ip/address add address=198.18.0.1/24 interface=ether2", "")
	exec(nil, "/ip/address add address=198.18.0.1/28 interface=ether1 disabled=yes", "")
	if indexed() {
		t.Fatal("index built outside a batch")
	}
	// An import's batch: the index.
	sess := &control.Session{}
	if err := r.ex.BeginBatch(sess); err != nil {
		t.Fatal(err)
	}
	exec(sess, "/ip/address add address=198.18.0.1/30 interface=ether1", dup)
	exec(sess, "/ip/address add address=198.18.0.2/24 interface=ether1", "")
	exec(sess, "/ip/address add address=198.18.0.2 interface=ether1", dup)
	exec(sess, "/ipv6/address add address=fd00:0::1/64 interface=ether1", "")
	exec(sess, "/ipv6/address add address=fd00::1/128 interface=ether1", dup)
	exec(sess, "/ipv6/address add address=fd00::1 interface=ether2", "")
	if err := r.ex.EndBatch(sess); err != nil {
		t.Fatal(err)
	}
	if !indexed() {
		t.Fatal("no index after the batch")
	}
	// Read-only with the index.
	exec(nil, "/ip/address add address=198.18.0.2/16 interface=ether1", dup)
	exec(nil, "/ip/address remove 0", "")
	exec(nil, "/ip/address add address=198.18.0.1/32 interface=ether1", "")
	exec(nil, "/ipv6/address add address=fd00:0:0::1/48 interface=ether1", dup)
	its, err := r.ex.Items(Addr6Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(its) != 2 || its[0].Props["address"] != "fd00::1/64" {
		t.Errorf("/ipv6/address items %v, want fd00::1/64 first (stored canonical)", its)
	}
}
