package system

import (
	"context"
	"strconv"
	"strings"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/script"
)

// envPath is /system script environment: the global variables, with the user whose
// script or login made them last. A user sees and removes their own; a session with
// the policy policy (which can grant itself anything) sees and removes every one.
const envPath = menu.ScriptEnvironmentPath

func (s *system) registerEnvironment() {
	s.ex.Provide(envPath, func(_ context.Context, sess *control.Session) ([]control.Row, error) {
		m, _ := s.ex.Tree.Get(envPath)
		var rows []control.Row
		for _, v := range s.visibleGlobals(sess) {
			rows = append(rows, control.Row{ID: v.ID, Menu: m, Props: map[string]string{
				"name": v.Name, "user": v.User, "value": script.ToString(v.Value)}})
		}
		return rows, nil
	})
	s.ex.Handle(envPath, "remove", control.CommandSpec{Positional: []string{"numbers"}, Effect: true}, s.envRemove)
}

func (s *system) visibleGlobals(sess *control.Session) []script.Var {
	var out []script.Var
	for _, v := range s.in.Globals.List() {
		if sess.Can("policy") || v.User == sess.User {
			out = append(out, v)
		}
	}
	return out
}

// envRemove deletes globals named by id (*N), print number or name.
func (s *system) envRemove(_ context.Context, c *control.Call) (*control.Reply, error) {
	ref, _ := c.S.Get("numbers")
	vars := s.visibleGlobals(c.Sess)
	nums := c.Sess.PrintNumbers(envPath)
	var names []string
	for _, r := range strings.Split(ref, ",") {
		r = strings.TrimSpace(r)
		found := ""
		id, isID := control.ParseID(r)
		if n, err := strconv.Atoi(r); err == nil && n >= 0 && n < len(nums) {
			id, isID = nums[n], true
		}
		for _, v := range vars {
			if (isID && v.ID == id) || (!isID && v.Name == r) {
				found = v.Name
			}
		}
		if found == "" {
			return nil, control.ErrNoSuchItem
		}
		names = append(names, found)
	}
	for _, n := range names {
		s.in.Globals.Delete(n)
	}
	return &control.Reply{Menu: c.Menu}, nil
}
