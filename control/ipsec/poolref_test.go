package ipsec

import (
	"context"
	"strings"
	"testing"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
)

// TestPoolInUseRefusedAtRemove (QA issue 12): a mode config's address-pool may name a
// pool that does not exist yet (RouterOS exports /ip ipsec mode-config before /ip pool),
// but removing a pool a mode config uses is refused, renaming it is followed, and once
// no mode config names it the pool goes.
func TestPoolInUseRefusedAtRemove(t *testing.T) {
	ex := controltest.New(t)
	controltest.Exec(t, ex, "/ip/ipsec/mode-config add name=rw address-pool=vpn address-prefix-length=32")
	controltest.Exec(t, ex, "/ip/pool add name=vpn ranges=198.19.77.2-198.19.77.254")
	remove := func(name string) error {
		_, err := ex.Exec(context.Background(), nil, &control.Sentence{Path: "/ip/pool", Cmd: "remove",
			Args: []control.Arg{{Name: "numbers", Value: name}}})
		return err
	}
	err := remove("vpn")
	if err == nil || !strings.Contains(err.Error(), "failure: vpn is in use by ip ipsec mode-config") {
		t.Fatalf("removing a pool in use: %v", err)
	}
	controltest.Exec(t, ex, "/ip/pool set vpn name=vpn2")
	its, err := ex.Items("/ip/ipsec/mode-config")
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range its {
		if it.Props["name"] == "rw" && it.Props["address-pool"] != "vpn2" {
			t.Errorf("mode config's address-pool after the rename: %q", it.Props["address-pool"])
		}
	}
	controltest.Exec(t, ex, "/ip/ipsec/mode-config set rw address-pool=none")
	if err := remove("vpn2"); err != nil {
		t.Errorf("removing a pool no longer used: %v", err)
	}
}
