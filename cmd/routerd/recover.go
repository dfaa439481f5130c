package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/system"
)

// storeRecover is what to do when the store file cannot be read: nothing (refuse to
// start, the default), start from an empty store, or start from the newest backup in
// files/. Either way the unreadable file is kept, renamed, for whoever wants to look.
var storeRecover = flag.String("store-recover", "",
	"when the store file cannot be read: \"empty\" starts from factory defaults, \"backup\" from the newest files/*.backup; the unreadable file is kept, renamed (default: refuse to start)")

// openStore opens the store at path. An unreadable file stops routerd with the reason
// and the way out, unless --store-recover asks for one; then it returns the backup to
// load once the executor is up ("" for none).
func openStore(path, dataDir string) (*store.Store, string, error) {
	st, err := store.Open(path)
	if err == nil || !errors.Is(err, store.ErrUnreadable) {
		return st, "", err
	}
	switch *storeRecover {
	case "":
		return nil, "", fmt.Errorf("%w; the file is left as it is. To start anyway, run routerd once with --store-recover=backup (the newest backup in %s) or --store-recover=empty (factory defaults); the file is then kept as %s.unreadable-DATE",
			err, filepath.Join(dataDir, "files"), path)
	case "empty", "backup":
	default:
		return nil, "", fmt.Errorf("--store-recover: %q is neither empty nor backup", *storeRecover)
	}
	backup := ""
	if *storeRecover == "backup" {
		if backup = newestBackup(filepath.Join(dataDir, "files")); backup == "" {
			return nil, "", fmt.Errorf("%w; --store-recover=backup: no .backup file in %s", err, filepath.Join(dataDir, "files"))
		}
	}
	aside := path + ".unreadable-" + time.Now().UTC().Format("20060102-150405")
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, "", fmt.Errorf("%w; cannot move it aside: %v", err, rerr)
	}
	slog.Warn("store file unreadable: kept aside, starting anew", "err", err, "kept", aside, "recover", *storeRecover, "backup", backup)
	st, err = store.Open(path)
	return st, backup, err
}

// newestBackup is the most recently written .backup file of dir ("" if none).
func newestBackup(dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	type f struct {
		name string
		mod  time.Time
	}
	var fs []f
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".backup") {
			if fi, err := e.Info(); err == nil {
				fs = append(fs, f{e.Name(), fi.ModTime()})
			}
		}
	}
	if len(fs) == 0 {
		return ""
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].mod.After(fs[j].mod) })
	return fs[0].name
}

// loadBackup restores a backup at start, as root would with /system backup load.
func loadBackup(ctx context.Context, ex *control.Executor, name string) error {
	_, err := ex.Exec(ctx, nil, &control.Sentence{Path: system.BackupPath, Cmd: "load",
		Args: []control.Arg{{Name: "name", Value: name}}})
	if err != nil {
		return fmt.Errorf("--store-recover=backup: loading %s: %w", name, err)
	}
	slog.Warn("configuration restored from backup after an unreadable store", "backup", name)
	return nil
}
