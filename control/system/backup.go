package system

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/eventlog"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/store"
)

// backupHeader starts every backup file; load refuses files without it, so that a stray
// .rsc renamed to .backup cannot wipe the configuration.
const backupHeader = control.BackupHeader

// backupName turns name= into a file name under files/: ".backup" appended when missing,
// and RouterOS's default of identity and date when empty.
func (s *system) backupName(ctx context.Context, c *control.Call) (string, error) {
	name, _ := c.S.Get("name")
	if name == "" {
		id := "MikroTik"
		if m, ok := s.ex.Tree.Get(eventlog.IdentityPath); ok {
			if rows, err := s.ex.Rows(ctx, c.Sess, m, false); err == nil && len(rows) == 1 && rows[0].Props["name"] != "" {
				id = rows[0].Props["name"]
			}
		}
		name = id + "-" + s.ex.Now().Format("20060102-1504")
	}
	if !strings.HasSuffix(name, ".backup") {
		name += ".backup"
	}
	n, err := cleanName(name)
	if err != nil {
		return "", control.ArgError("invalid value for argument name")
	}
	return n, nil
}

// backupSave writes the whole configuration, secrets included, as a script that load
// replays: an export is already a complete, consistent (one read transaction) and
// version-tolerant image of the store, which a raw copy of the bbolt file would not be
// across schema changes. It is the only export that carries password hashes. With
// password= (and not dont-encrypt=yes) the file is encrypted with it
// (encryption=aes-sha256, the default and the only one: RouterOS's rc4 is refused).
// The file is 0600 in a 0700 directory either way.
func (s *system) backupSave(ctx context.Context, c *control.Call) (*control.Reply, error) {
	name, err := s.backupName(ctx, c)
	if err != nil {
		return nil, err
	}
	password, _ := c.S.Get("password")
	if enc, _ := c.S.Get("encryption"); enc != "" && enc != "aes-sha256" {
		return nil, control.ArgError("encryption %s is not supported (use aes-sha256)", enc)
	}
	if v, _ := c.S.Get("dont-encrypt"); v == "yes" {
		password = ""
	}
	text, err := s.ex.Export(ctx, c.Sess, "", control.ExportOptions{ShowSensitive: true, Backup: true})
	if err != nil {
		return nil, err
	}
	data := []byte(backupHeader + text)
	if password != "" {
		if data, err = encryptBackup(data, password); err != nil {
			return nil, control.Failure("cannot encrypt the backup: %v", err)
		}
	}
	if err := s.writeFile(name, data); err != nil {
		return nil, err
	}
	return &control.Reply{Menu: c.Menu, Text: "Configuration backup saved"}, nil
}

// backupLoad replaces the configuration with a backup. The backup is replayed into a
// scratch store first (wiped, built-in items seeded, then the file run as one script);
// only when all of it succeeds is the scratch configuration copied over the live one, in
// one transaction. A backup that fails anywhere changes nothing.
func (s *system) backupLoad(ctx context.Context, c *control.Call) (*control.Reply, error) {
	name, _ := c.S.Get("name")
	if name == "" {
		return nil, control.ArgError("expected name")
	}
	if !strings.HasSuffix(name, ".backup") && !s.exists(name) {
		name += ".backup"
	}
	name, err := cleanName(name)
	if err != nil {
		return nil, control.ArgError("invalid value for argument name")
	}
	data, err := s.readFile(name)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(string(data), encryptedHeader) {
		password, _ := c.S.Get("password")
		if password == "" {
			return nil, control.Failure("%s is encrypted: give password=", name)
		}
		if data, err = decryptBackup(data, password); err != nil {
			return nil, control.Failure("%s: %v", name, err)
		}
	}
	if !strings.HasPrefix(string(data), backupHeader) {
		return nil, control.Failure("%s is not a routerd backup", name)
	}
	ctx, err = enter(ctx)
	if err != nil {
		return nil, err
	}
	var oldScripts []uint64
	err = s.withScratch(func(sx *control.Executor) error {
		if err := sx.Seed(); err != nil {
			return err
		}
		sin := &script.Interp{Ex: sx, Globals: &script.Globals{}}
		sess := &control.Session{User: c.Sess.User, ShowSensitive: true}
		if err := sx.BeginBatch(sess); err != nil {
			return err
		}
		runErr := sin.Run(ctx, &script.Console{Sess: sess}, string(data), io.Discard)
		if err := sx.EndBatch(sess); err != nil && runErr == nil {
			runErr = err
		}
		if runErr != nil {
			return control.Failure("backup %s not loaded: %v", name, runErr)
		}
		return sx.Store.View(func(src *store.Tx) error {
			return s.ex.Update(c.Sess, func(dst *store.Tx) ([]control.Change, error) {
				old, err := dst.List(script.ScriptPath)
				if err != nil {
					return nil, err
				}
				for _, it := range old {
					oldScripts = append(oldScripts, it.ID)
				}
				return replaceConfig(s.ex, dst, src)
			})
		})
	})
	if err != nil {
		return nil, err
	}
	// Run counts belong to the scripts that were replaced, not to new ones that happen
	// to get their ids.
	for _, id := range oldScripts {
		s.ex.State.Clear(script.ScriptPath, id)
	}
	return &control.Reply{Menu: c.Menu, Text: "configuration restored"}, nil
}

// withScratch runs fn with an executor over a new, empty store in a private directory
// of the data dir, removed afterwards. The scratch executor has the live menu tree but
// none of the live handlers, sources or watchers: nothing run in it touches the system.
func (s *system) withScratch(fn func(sx *control.Executor) error) error {
	dir, err := os.MkdirTemp(s.dataDir, ".scratch-")
	if err != nil {
		return control.Failure("cannot create scratch store: %v", fileErr(err))
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(filepath.Join(dir, "scratch.db"))
	if err != nil {
		return control.Failure("cannot create scratch store: %v", err)
	}
	defer st.Close()
	sx := control.New(s.ex.Tree, st)
	sx.Now = s.ex.Now
	sx.InheritMigrations(s.ex)
	return fn(sx)
}

// replaceConfig makes dst hold exactly the configuration of src: same items, same ids,
// same order. Every menu of the tree is reported as reloaded, so engines re-read all.
func replaceConfig(ex *control.Executor, dst, src *store.Tx) ([]control.Change, error) {
	if err := copyConfig(dst, src); err != nil {
		return nil, err
	}
	var chs []control.Change
	for _, m := range ex.Tree.All() {
		chs = append(chs, control.Change{Path: m.Path, Op: "reload"})
	}
	return chs, nil
}

// copyConfig wipes dst and copies every item of src into it.
func copyConfig(dst, src *store.Tx) error {
	if err := dst.Wipe(); err != nil {
		return fmt.Errorf("wipe: %w", err)
	}
	for _, path := range src.Menus() {
		items, err := src.List(path)
		if err != nil {
			return err
		}
		var maxID uint64
		for _, it := range items {
			maxID = max(maxID, it.ID)
		}
		// Advance the id counter past the copied ids, so the next add gets a fresh one.
		// The store has no setter for it; NextID, which only counts up, is what there is.
		for maxID > 0 {
			id, err := dst.NextID(path)
			if err != nil {
				return err
			}
			if id >= maxID {
				break
			}
		}
		for _, it := range items {
			if err := dst.Put(path, it, 0); err != nil {
				return err
			}
		}
	}
	return nil
}
