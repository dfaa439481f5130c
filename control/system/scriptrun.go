package system

import (
	"context"
	"maps"
	"strconv"
	"strings"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/store"
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
	// A script runs with its policy list cut down to what its owner (whoever wrote it
	// last) holds, and, unless it waives the check, to what its caller holds too: a
	// caller may only start a script whose policies it holds itself. The waiver
	// (dont-require-permissions) can only have been left by an owner holding every
	// policy the script lists (see control's ownership rules), so it never grants more
	// than that owner had.
	var owner map[string]bool
	if err := s.ex.View(c.Sess, func(tx *store.Tx) error {
		it, err := tx.Get(c.Menu.Path, row.ID)
		if err != nil {
			return err
		}
		owner = s.ex.OwnerPolicies(tx, it.Props["owner"], it.Props[control.RightsFrom])
		return nil
	}); err != nil {
		return nil, err
	}
	grant := control.Intersect(control.Policies(row.Props["policy"]), owner)
	var sess *control.Session
	if row.Props["dont-require-permissions"] == "yes" {
		sess = c.Sess.WithPolicies(grant)
	} else {
		for p := range control.Policies(row.Props["policy"]) {
			if !c.Sess.Can(p) {
				return nil, control.ErrPermission
			}
		}
		sess = c.Sess.Restricted(grant)
	}
	// Its globals stay when the caller's login ends, as RouterOS keeps globals until
	// a reboot; they count against the user's bound (script.Globals).
	sess.KeepsGlobals = true
	if ctx, err = enter(ctx); err != nil {
		return nil, err
	}
	s.countRun(c.Menu.Path, row.ID)

	var out strings.Builder
	if err := s.in.Run(ctx, &script.Console{Sess: sess}, row.Props["source"], &out); err != nil {
		return nil, err
	}
	return &control.Reply{Menu: c.Menu, Text: out.String()}, nil
}

// execute is /execute script=SRC [as-string]: :execute for the API and REST. Its ret is
// the job's id, or with as-string the script's output.
func (s *system) execute(ctx context.Context, c *control.Call) (*control.Reply, error) {
	for _, a := range c.S.Args {
		// The API hands any argument on: one this /execute does not take (file=, which
		// RouterOS writes the output to) must not be ignored as if it were done.
		if a.Name != "script" && a.Name != "as-string" {
			return nil, &control.Error{Msg: "unknown parameter " + a.Name, Category: control.CatArgument}
		}
	}
	src, ok := c.S.Get("script")
	if !ok {
		return nil, &control.Error{Msg: "missing value for argument script", Category: control.CatMissing}
	}
	ctx, err := enter(ctx)
	if err != nil {
		return nil, err
	}
	ret, err := s.in.Execute(ctx, c.Sess, src, c.S.Bool("as-string"))
	if err != nil {
		return nil, err
	}
	return &control.Reply{Ret: ret}, nil
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
