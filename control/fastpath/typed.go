package fastpath

import (
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/ipsettings"
)

// TypedItems names the settings property the engine applies (engine.Typed): the
// ip-settings engine writes the sysctls of the same menus, the fast path only this.
func (e *Engine) TypedItems() map[string]any {
	return map[string]any{ipsettings.Path: engine.Props{"allow-fast-path"}, ipsettings.Path6: engine.Props{"allow-fast-path"}}
}
