package link

import (
	"fmt"
	"log/slog"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

// Boot is what another engine needs of this one before any engine has started (the
// firewall's Prearm at a cold start): the kernel names of RouterOS interface names, with
// the stored collisions, and the members of interface lists resolved from the stored
// configuration. A member routerd has configuration for counts as present though its link
// is not made yet (a bridge, a tunnel): a rule naming it then matches its name as soon as
// the link appears, as it will once the firewall engine runs. The links of the system are
// read when a list is resolved, until done is called.
func Boot(ex *control.Executor) (kernelName func(string) string, members ListMembers, done func(), err error) {
	h, err := NewKernel()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	e := New()
	e.ex, e.h = ex, h
	if err := ex.Store.View(func(tx *store.Tx) error { e.names.load(tx); return nil }); err != nil {
		slog.Warn("link: reading stored kernel names", "err", err)
	}
	return e.names.Kernel, func(list string) ([]string, error) { return e.members(list, true) }, h.Close, nil
}
