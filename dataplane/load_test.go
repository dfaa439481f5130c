package dataplane

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"
)

// loadOrSkip loads the tunnel collection without pinning.
func loadOrSkip(t testing.TB) *tunnelObjects {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	spec, err := loadTunnel()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	var objs tunnelObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Fatalf("%+v", ve)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	return &objs
}

func TestLoad(t *testing.T) { loadOrSkip(t) }
