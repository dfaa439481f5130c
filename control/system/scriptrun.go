package system

import (
	"context"
	"maps"
	"strconv"
	"strings"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/script"
)

// scriptRun is /system script run: it runs a script's source in a console of its own,
// with the caller's permissions (or the script's policy with use-script-permissions),
// and counts the run in the script's read-only run-count and last-started. Those live in
// the executor's State, not the store, so they restart from zero with the daemon as
// RouterOS's do with a reboot.
func (s *system) scriptRun(ctx context.Context, c *control.Call) (*control.Reply, error) {
	ref, _ := c.S.Get("number")
	if ref == "" {
		return nil, &control.Error{Msg: "expected item id", Category: control.CatMissing}
	}
	rep, err := s.ex.Exec(ctx, c.Sess, &control.Sentence{Path: c.Menu.Path, Cmd: "get",
		Args: []control.Arg{{Name: "number", Value: ref}}})
	if err != nil {
		return nil, err
	}
	if len(rep.Rows) != 1 {
		return nil, control.ErrNoSuchItem
	}
	row := rep.Rows[0]
	// A caller may only start a script whose policies it holds itself (a scheduler
	// item, a script, a restricted user), unless the script waives the check.
	if row.Props["dont-require-permissions"] != "yes" {
		for _, p := range strings.Split(row.Props["policy"], ",") {
			if p != "" && !c.Sess.Can(p) {
				return nil, &control.Error{Msg: "not enough permissions (9)", Category: control.CatFailure}
			}
		}
	}
	if ctx, err = enter(ctx); err != nil {
		return nil, err
	}
	s.countRun(c.Menu.Path, row.ID)

	sess := session(c.Sess)
	if c.S.Bool("use-script-permissions") && sess != c.Sess {
		sess.ShowSensitive = hasPolicy(row.Props["policy"], "sensitive")
		sess.Policies = map[string]bool{}
		for _, p := range strings.Split(row.Props["policy"], ",") {
			sess.Policies[p] = p != ""
		}
	}
	var out strings.Builder
	if err := s.in.Run(ctx, &script.Console{Sess: sess}, row.Props["source"], &out); err != nil {
		return nil, err
	}
	return &control.Reply{Menu: c.Menu, Text: out.String()}, nil
}

// countRun increments run-count and sets last-started, keeping the rest of the item's
// state.
func (s *system) countRun(path string, id uint64) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	st, _ := s.ex.State.Get(path, id)
	n, _ := strconv.ParseUint(st.Props["run-count"], 10, 64)
	props := maps.Clone(st.Props)
	if props == nil {
		props = map[string]string{}
	}
	props["run-count"] = strconv.FormatUint(n+1, 10)
	props["last-started"] = s.ex.Now().Format("2006-01-02 15:04:05")
	st.Props = props
	s.ex.State.Set(path, id, st)
}

func hasPolicy(list, p string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == p {
			return true
		}
	}
	return false
}
