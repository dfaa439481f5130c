package control

import (
	"sort"
	"strings"

	"github.com/routerd/routerd/control/store"
)

// ErrPermission is RouterOS's answer to a command the session's policies do not allow.
var ErrPermission = &Error{Msg: "not enough permissions (9)", Category: CatFailure}

// Policies parses a comma list of policies ("read,write,!ftp"); words starting with
// '!' are left out, as RouterOS prints policies a group lacks.
func Policies(list string) map[string]bool {
	out := map[string]bool{}
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p != "" && p[0] != '!' {
			out[p] = true
		}
	}
	return out
}

// Intersect returns the policies both sets hold; nil stands for every policy.
func Intersect(a, b map[string]bool) map[string]bool {
	switch {
	case a == nil && b == nil:
		return nil
	case a == nil:
		return clonePolicies(b)
	case b == nil:
		return clonePolicies(a)
	}
	out := map[string]bool{}
	for p, ok := range a {
		if ok && b[p] {
			out[p] = true
		}
	}
	return out
}

func clonePolicies(a map[string]bool) map[string]bool {
	out := make(map[string]bool, len(a))
	for p, ok := range a {
		if ok {
			out[p] = true
		}
	}
	return out
}

// FormatPolicies renders a policy set as a sorted comma list ("" for none, "all" for
// nil).
func FormatPolicies(a map[string]bool) string {
	if a == nil {
		return "all"
	}
	var out []string
	for p, ok := range a {
		if ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// UserPolicies returns the policies of the group of the /user called name: what a
// script or scheduler item owned by that user may do at most. An empty name is the
// system's own (items from before owners were recorded, or made by routerd itself):
// nil, every policy. A user that no longer exists has none.
func (x *Executor) UserPolicies(tx *store.Tx, name string) map[string]bool {
	if name == "" {
		return nil
	}
	id, ok := tx.ByName(UserPath, name)
	if !ok {
		return map[string]bool{}
	}
	u, err := tx.Get(UserPath, id)
	if err != nil {
		return map[string]bool{}
	}
	gid, ok := tx.ByName(UserGroupPath, u.Props["group"])
	if !ok {
		return map[string]bool{}
	}
	g, err := tx.Get(UserGroupPath, gid)
	if err != nil {
		return map[string]bool{}
	}
	return Policies(g.Props["policy"])
}

// RightsFrom is the hidden property of the items that run code (/system script,
// /system scheduler) naming the user who wrote an owner that is no user here: an
// imported export names the users of the router it came from.
const RightsFrom = "rights-from"

// OwnerPolicies are the policies an item that runs code holds through its owner: the
// owner's group's, or, for an owner that is no user here, those of the user who named
// it (rightsFrom). Only a session holding the policy policy may name another owner
// (own), and such a session can grant itself anything, so an imported script runs
// with what its importer could give it and no more. An owner removed or renamed after
// the fact grants nothing, as before: its rights were never vouched for by anyone else.
func (x *Executor) OwnerPolicies(tx *store.Tx, owner, rightsFrom string) map[string]bool {
	if _, ok := tx.ByName(UserPath, owner); !ok && owner != "" && rightsFrom != "" {
		return x.UserPolicies(tx, rightsFrom)
	}
	return x.UserPolicies(tx, owner)
}

// Restricted returns a new session for the same user whose policies are the
// intersection of s's and p's: a script started by s that runs with p at most.
// The new session shares s's batch, so that a script started inside an import runs in
// the import's transaction.
func (s *Session) Restricted(p map[string]bool) *Session {
	n := &Session{User: s.User, DryRun: s.DryRun, share: s.root()}
	n.Policies = Intersect(s.Policies, p)
	n.ShowSensitive = n.Can("sensitive")
	return n
}

// WithPolicies returns a new session for the same user with exactly policies p (nil:
// every policy), sharing s's batch.
func (s *Session) WithPolicies(p map[string]bool) *Session {
	n := &Session{User: s.User, DryRun: s.DryRun, share: s.root()}
	if p != nil {
		n.Policies = clonePolicies(p)
	}
	n.ShowSensitive = n.Can("sensitive")
	return n
}

// own applies the ownership rules of items that run code with policies (/system
// script, /system scheduler) to the properties an add or set is about to write:
//
//   - whoever writes such an item owns it afterwards, so editing the source of a script
//     that someone with more rights runs gives it the editor's rights, not the
//     runner's; only a session holding the policy policy (user management, which can
//     grant itself anything anyway) may name another owner, as an import of an export
//     does;
//   - an owner that is no user here (an imported export's) is kept as written, and
//     the item runs with the rights of the session that named it (OwnerPolicies);
//   - dont-require-permissions=yes may only be left on an item by a session that holds
//     every policy the item lists, so that it cannot be used to run with policies its
//     author never had.
func (x *Executor) own(tx *store.Tx, c *Call, props map[string]string, given map[string]string) error {
	if _, ok := c.Menu.Prop("owner"); !ok {
		return nil
	}
	pp, ok := c.Menu.Prop("policy")
	if !ok {
		return nil
	}
	s := c.Sess
	if s.User != "" {
		delete(props, RightsFrom)
		if _, named := given["owner"]; !named || !s.Can("policy") {
			props["owner"] = s.User
		} else if _, user := tx.ByName(UserPath, props["owner"]); !user && props["owner"] != "" {
			// An owner that is no user here (an export's): the item runs with what
			// the writer, who may name owners, could give it (OwnerPolicies).
			props[RightsFrom] = s.User
		}
	}
	if props["dont-require-permissions"] == "yes" {
		list, ok := props["policy"]
		if !ok {
			list = pp.Default
		}
		for p := range Policies(list) {
			if !s.Can(p) {
				return ErrPermission
			}
		}
	}
	return nil
}

// Allowed reports whether sess may run the command cmd of the menu at path: nil, or
// ErrPermission, or the error of a command that does not exist. Exec checks exactly
// this before it runs anything.
func (x *Executor) Allowed(sess *Session, path, cmd string) error {
	c, ok := x.lookup(path, cmd)
	if !ok {
		return errf(CatMissing, "no such command")
	}
	for _, p := range strings.Split(CommandPolicy(c.spec), ",") {
		if !sess.Can(p) {
			return ErrPermission
		}
	}
	return nil
}

// CommandPolicy is the comma list of policies a command needs ("write" when its spec
// names none).
func CommandPolicy(spec CommandSpec) string {
	if spec.Policy == "" {
		return "write"
	}
	return spec.Policy
}

// PolicyRow is one command and the policies it needs.
type PolicyRow struct {
	Path, Cmd, Policy string
}

// PolicyTable lists every command of every menu with the policies it needs, sorted by
// menu and command: the table docs/policies.md is generated from.
func (x *Executor) PolicyTable() []PolicyRow {
	var out []PolicyRow
	paths := []string{""}
	for _, m := range x.Tree.All() {
		if m.Path != "" {
			paths = append(paths, m.Path)
		}
	}
	for _, path := range paths {
		for _, cmd := range x.Commands(path) {
			spec, _ := x.Command(path, cmd)
			out = append(out, PolicyRow{Path: path, Cmd: cmd, Policy: CommandPolicy(spec)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Cmd < out[j].Cmd
	})
	return out
}
