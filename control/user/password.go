package user

import (
	"context"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

// registerPassword installs /password: the logged-in user changes their own password,
// giving the old one, as RouterOS's /password does. It needs only the password policy,
// not policy (which changing other users needs).
func registerPassword(ex *control.Executor) {
	ex.Handle("", "password", control.CommandSpec{
		Args: []string{"old-password", "new-password", "confirm-new-password"}, Policy: "password",
	}, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
		old, _ := c.S.Get("old-password")
		nw, _ := c.S.Get("new-password")
		confirm, _ := c.S.Get("confirm-new-password")
		if nw != confirm {
			return nil, control.ArgError("new passwords do not match")
		}
		name := c.Sess.User
		var id uint64
		var hash string
		if err := ex.View(c.Sess, func(tx *store.Tx) error {
			var ok bool
			if id, ok = tx.ByName(UserPath, name); !ok {
				return control.Failure("no such user %s", name)
			}
			it, err := tx.Get(UserPath, id)
			hash = it.Props["password-hash"]
			return err
		}); err != nil {
			return nil, err
		}
		if !VerifyPassword(hash, old) {
			return nil, control.ArgError("old password is not correct")
		}
		// The generic set behind the hashing handler stores only the hash. It is called
		// directly, in the caller's session (a script's batch), because the user may
		// lack the policy policy that /user set asks for.
		gen, _, _ := ex.Generic(UserPath, "set")
		m, _ := ex.Tree.Get(UserPath)
		s := &control.Sentence{Path: UserPath, Cmd: "set", Args: []control.Arg{
			{Name: "numbers", Value: control.FormatID(id)}, {Name: "password", Value: nw}}}
		if _, err := hashingHandler(gen)(ctx, &control.Call{Ex: ex, Sess: c.Sess, S: s, Menu: m}); err != nil {
			return nil, err
		}
		return &control.Reply{Text: "password changed"}, nil
	})
}
