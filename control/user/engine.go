package user

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// Menu paths this package applies.
const (
	UserPath  = control.UserPath
	GroupPath = control.UserGroupPath
	KeysPath  = menu.SSHKeysPath
)

// InitialPasswordFile is the file in the data dir that receives admin's random
// password on first start.
const InitialPasswordFile = "initial-admin-password"

// Register installs the handlers that keep passwords hashed and keys valid, and marks
// the menus as applied. Changing users, groups and keys needs the policy policy, as in
// RouterOS.
func Register(ex *control.Executor, dataDir string) {
	for _, cmd := range []string{"add", "set"} {
		gen, spec, _ := ex.Generic(UserPath, cmd)
		spec.Policy = "policy"
		ex.Handle(UserPath, cmd, spec, hashingHandler(gen))
	}
	for _, path := range []string{UserPath, GroupPath, KeysPath} {
		for _, cmd := range []string{"remove", "unset", "enable", "disable", "comment"} {
			gen, spec, _ := ex.Generic(path, cmd)
			spec.Policy = "policy"
			ex.Handle(path, cmd, spec, gen)
		}
	}
	for _, cmd := range []string{"add", "set"} {
		gen, spec, _ := ex.Generic(GroupPath, cmd)
		spec.Policy = "policy"
		ex.Handle(GroupPath, cmd, spec, gen)
	}
	for _, cmd := range []string{"add", "set"} {
		gen, spec, _ := ex.Generic(KeysPath, cmd)
		spec.Policy = "policy"
		ex.Handle(KeysPath, cmd, spec, keyHandler(gen))
	}
	ex.Handle(KeysPath, "import", control.CommandSpec{
		Args: []string{"public-key-file", "user"}, Policy: "policy",
	}, importKeys(dataDir))
	for _, p := range []string{UserPath, GroupPath, KeysPath} {
		ex.SetEngine(p, "user")
	}
	registerPassword(ex)
	ex.Watch(KeysPath, func(c control.Change) { keyState(ex, c) })
	keyState(ex, control.Change{Path: KeysPath})
}

// hashingHandler replaces password=X by password-hash=HASH before the generic add or
// set runs, so the plain password is never stored; password-hash given directly (an
// import of a show-sensitive export) must be a well-formed hash.
func hashingHandler(gen control.Handler) control.Handler {
	return func(ctx context.Context, c *control.Call) (*control.Reply, error) {
		s := *c.S
		s.Args = make([]control.Arg, 0, len(c.S.Args))
		var pw, hash bool
		for _, a := range c.S.Args {
			switch {
			case a.Name == "password" && a.Unset:
				a.Name = "password-hash"
			case a.Name == "password":
				pw = true
				h, err := HashPassword(a.Value)
				if err != nil {
					return nil, control.Failure("%v", err)
				}
				a = control.Arg{Name: "password-hash", Value: h}
			case a.Name == "password-hash" && !a.Unset:
				hash = true
				if err := CheckHash(a.Value); err != nil {
					return nil, control.ArgError("value of password-hash is %v", err)
				}
			}
			s.Args = append(s.Args, a)
		}
		if pw && hash {
			return nil, control.ArgError("give password or password-hash, not both")
		}
		cc := *c
		cc.S = &s
		return gen(ctx, &cc)
	}
}

// Seed gives the built-in admin (group full) a random password on first start — when it
// has no password yet — writing it to dataDir/initial-admin-password (0600) for the
// operator.
func Seed(ex *control.Executor, dataDir string) error {
	var created bool
	err := ex.Store.Update(func(tx *store.Tx) error {
		id, ok := tx.ByName(UserPath, "admin")
		if !ok {
			return nil
		}
		it, err := tx.Get(UserPath, id)
		if err != nil || it.Props["password-hash"] != "" {
			return err
		}
		b := make([]byte, 15)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		password := base64.RawURLEncoding.EncodeToString(b)
		h, err := HashPassword(password)
		if err != nil {
			return err
		}
		// The file first: a password nobody can read would lock the operator out.
		if err := writeSecret(filepath.Join(dataDir, InitialPasswordFile), password+"\n"); err != nil {
			return err
		}
		it.Props["password-hash"] = h
		created = true
		return tx.Put(UserPath, it, 0)
	})
	if err != nil {
		return fmt.Errorf("create admin: %w", err)
	}
	if created {
		slog.Warn("gave user admin a random password", "file", filepath.Join(dataDir, InitialPasswordFile))
	}
	return nil
}

func writeSecret(path, data string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	// An older file may have had wider permissions.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// keyHandler checks key= is a public key in authorized_keys form before the generic
// add or set stores it.
func keyHandler(gen control.Handler) control.Handler {
	return func(ctx context.Context, c *control.Call) (*control.Reply, error) {
		if k, ok := c.S.Get("key"); ok {
			if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
				return nil, control.ArgError("value of key is not a public key: %v", err)
			}
		}
		return gen(ctx, c)
	}
}

// importKeys reads public keys from a file of the files/ folder and adds one item per
// key for the user (RouterOS: /user ssh-keys import public-key-file=id_rsa.pub user=admin).
func importKeys(dataDir string) control.Handler {
	return func(ctx context.Context, c *control.Call) (*control.Reply, error) {
		name, _ := c.S.Get("public-key-file")
		user, _ := c.S.Get("user")
		if name == "" {
			return nil, control.ArgError("public-key-file not specified")
		}
		if user == "" {
			return nil, control.ArgError("user not specified")
		}
		data, err := readFile(filepath.Join(dataDir, "files"), name)
		if err != nil {
			return nil, control.Failure("cannot read %s: %v", name, err)
		}
		var keys []string
		for rest := data; len(rest) > 0; {
			pk, comment, _, r, err := ssh.ParseAuthorizedKey(rest)
			if err != nil {
				break
			}
			rest = r
			line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
			if comment != "" {
				line += " " + comment
			}
			keys = append(keys, line)
		}
		if len(keys) == 0 {
			return nil, control.Failure("no public key in %s", name)
		}
		// A user that does not exist fails the first add, before any key is stored.
		gen, _, _ := c.Ex.Generic(KeysPath, "add")
		var ids []string
		for _, k := range keys {
			s := &control.Sentence{Path: KeysPath, Cmd: "add", Args: []control.Arg{
				{Name: "user", Value: user}, {Name: "key", Value: k}}}
			rep, err := gen(ctx, &control.Call{Ex: c.Ex, Sess: c.Sess, S: s, Menu: c.Menu})
			if err != nil {
				return nil, err
			}
			ids = append(ids, rep.Ret)
		}
		return &control.Reply{Menu: c.Menu, List: ids}, nil
	}
}

// readFile reads name inside dir and nowhere else: the name comes from a user.
func readFile(dir, name string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// An authorized_keys file of a few keys is a few KiB; more is not a key file.
	return io.ReadAll(io.LimitReader(f, 256<<10))
}

// keyState shows each key's type, size and owner as read-only properties.
func keyState(ex *control.Executor, c control.Change) {
	if c.Op == "remove" {
		ex.State.Clear(KeysPath, c.ID)
		return
	}
	items, err := ex.Items(KeysPath)
	if err != nil {
		return
	}
	for _, it := range items {
		if c.ID != 0 && it.ID != c.ID {
			continue
		}
		pk, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(it.Props["key"]))
		if err != nil {
			ex.State.Set(KeysPath, it.ID, control.ItemState{Invalid: true, Status: "not a public key"})
			continue
		}
		props := map[string]string{"key-type": pk.Type(), "key-owner": comment}
		if b := keyBits(pk); b > 0 {
			props["bits"] = fmt.Sprint(b)
		}
		ex.State.Set(KeysPath, it.ID, control.ItemState{Props: props})
	}
}

func keyBits(pk ssh.PublicKey) int {
	switch pk.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256:
		return 256
	case ssh.KeyAlgoECDSA384:
		return 384
	case ssh.KeyAlgoECDSA521:
		return 521
	}
	if cpk, ok := pk.(ssh.CryptoPublicKey); ok {
		if k, ok := cpk.CryptoPublicKey().(*rsa.PublicKey); ok {
			return k.N.BitLen()
		}
	}
	return 0
}

// Put creates user name in group with password, or sets the group and password of an
// existing user such as the built-in admin.
func Put(ctx context.Context, ex *control.Executor, name, group, password string) error {
	s := &control.Sentence{Path: UserPath, Cmd: "add", Args: []control.Arg{{Name: "name", Value: name}}}
	if err := ex.View(nil, func(tx *store.Tx) error {
		if _, ok := tx.ByName(UserPath, name); ok {
			s.Cmd, s.Args[0].Name = "set", "numbers"
		}
		return nil
	}); err != nil {
		return err
	}
	s.Args = append(s.Args, control.Arg{Name: "group", Value: group}, control.Arg{Name: "password", Value: password})
	_, err := ex.Exec(ctx, nil, s)
	return err
}
