package system

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// AllowClockSet lets /system clock set change the machine's clock and the process's time
// zone (routerd --allow-clock-set). Off by default: routerd usually shares its machine,
// whose clock belongs to NTP or PTP.
var AllowClockSet bool

// timeFormat is how RouterOS v7 writes dates and times (creation-time, when).
const timeFormat = "2006-01-02 15:04:05"

// Menu paths of the administration menus this package serves.
const (
	FilePath        = menu.FilePath
	ClockPath       = menu.ClockPath
	ClockManualPath = menu.ClockManualPath
	PackagePath     = menu.PackagePath
	RouterboardPath = menu.RouterboardPath
	NotePath        = menu.NotePath
	ResourcePath    = menu.ResourcePath
	BackupPath      = menu.BackupPath
)

// maxContents is the largest text file whose contents /file shows, as RouterOS does.
const maxContents = 4096

// maxFiles bounds what /file print walks: a tree of millions of uploads must not stall
// every print.
const maxFiles = 10000

// fileIDs keeps the ids /file gives paths, stable while routerd runs.
type fileIDs struct {
	mu   sync.Mutex
	ids  map[string]uint64
	next uint64
}

func (f *fileIDs) id(name string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ids == nil {
		f.ids = map[string]uint64{}
	}
	if id, ok := f.ids[name]; ok {
		return id
	}
	f.next++
	f.ids[name] = f.next
	return f.next
}

// adminHandlers installs /file, /system clock, /system package and /system routerboard.
func (s *system) adminHandlers() {
	ex := s.ex
	for _, p := range []string{FilePath, ClockPath, ClockManualPath, PackagePath, RouterboardPath, NotePath} {
		// Recorded under the executor's lock: sessions print while this runs.
		if ex.Engine(p) == "" {
			ex.SetEngine(p, engine)
		}
	}
	ex.Provide(FilePath, s.fileRows)
	ex.Handle(FilePath, "remove", control.CommandSpec{Positional: []string{"numbers"}, Effect: true}, s.fileRemove)
	ex.Handle(FilePath, "set", control.CommandSpec{Positional: []string{"numbers"}, Args: []string{"contents"}, Effect: true}, s.fileSet)
	ex.Handle(FilePath, "add", control.CommandSpec{Args: []string{"name", "contents", "type"}, Effect: true}, s.fileAdd)
	s.loadZone()
	ex.Provide(ClockPath, s.clockRow)
	ex.Handle(ClockPath, "set", control.CommandSpec{Args: []string{"time", "date", "time-zone-name", "time-zone-autodetect"}, Effect: true}, s.clockSet)
	ex.Provide(PackagePath, s.packageRows)
	ex.Provide(RouterboardPath, func(context.Context, *control.Session) ([]control.Row, error) {
		// What RouterOS CHR answers: not a RouterBOARD, so no model or firmware.
		return []control.Row{{ID: 1, Props: map[string]string{"routerboard": "no"}}}, nil
	})
}

// fileType names a file's kind as /file print does.
func fileType(name string, dir bool) string {
	switch ext := strings.ToLower(filepath.Ext(name)); {
	case dir:
		return "directory"
	case ext == ".backup":
		return "backup"
	case ext == ".rsc":
		return "script"
	case ext == ".npk":
		return "package"
	case ext != "":
		return ext + " file"
	}
	return "file"
}

// birthTime is the file's creation time where the file system records it, else its
// modification time.
func birthTime(path string, fi fs.FileInfo) time.Time {
	var st unix.Statx_t
	if unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME, &st) == nil && st.Mask&unix.STATX_BTIME != 0 {
		return time.Unix(st.Btime.Sec, int64(st.Btime.Nsec))
	}
	return fi.ModTime()
}

// fileRows lists files/ (exports, backups, ftp and tftp uploads), sorted by name.
func (s *system) fileRows(ctx context.Context, sess *control.Session) ([]control.Row, error) {
	m, _ := s.ex.Tree.Get(FilePath)
	var rows []control.Row
	err := filepath.WalkDir(s.files, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == s.files && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return nil // a file that went meanwhile, or unreadable: leave it out
		}
		if path == s.files || ctx.Err() != nil || len(rows) >= maxFiles {
			if len(rows) >= maxFiles || ctx.Err() != nil {
				return filepath.SkipAll
			}
			return nil
		}
		rel, _ := filepath.Rel(s.files, path)
		rel = filepath.ToSlash(rel)
		if strings.HasSuffix(rel, ".tmp") || d.Type()&fs.ModeSymlink != 0 {
			return nil // writes in progress; links could point out of files/
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		p := map[string]string{
			"name":          rel,
			"type":          fileType(rel, d.IsDir()),
			"creation-time": birthTime(path, fi).Format(timeFormat),
			"last-modified": fi.ModTime().Format(timeFormat),
		}
		if !d.IsDir() {
			p["size"] = strconv.FormatInt(fi.Size(), 10)
			if fi.Mode().IsRegular() && fi.Size() <= maxContents {
				if b, err := os.ReadFile(path); err == nil && utf8.Valid(b) && !strings.ContainsRune(string(b), 0) && mayRead(sess, rel, b) {
					p["contents"] = string(b)
				}
			}
		}
		rows = append(rows, control.Row{ID: s.fileIDs.id(rel), Menu: m, Props: p})
		return nil
	})
	sort.Slice(rows, func(i, j int) bool { return rows[i].Props["name"] < rows[j].Props["name"] })
	return rows, err
}

// mayRead says whether sess may see the text of a file: a backup holds every secret,
// so only who may save one reads it; exported private keys (guarded by a passphrase
// open to offline guessing) need the sensitive policy, as export-certificate does.
func mayRead(sess *control.Session, name string, b []byte) bool {
	if !control.SecretFile(name, b) {
		return true
	}
	if strings.HasPrefix(string(b), backupHeader) {
		return sess.Can("policy") && sess.Can("sensitive")
	}
	return sess.Can("sensitive")
}

// mayWrite says whether sess may replace a file holding old with data: a backup (by
// name or by its text) is what /system backup load and --store-recover=backup trust,
// so only who may save one writes one (a write user's /file set nb.backup
// contents="# routerd backup ..." handed the admin's next load a /user add); an
// exported key needs what reading it does.
func mayWrite(sess *control.Session, name string, old, data []byte) bool {
	if strings.HasSuffix(strings.ToLower(name), ".backup") && !(sess.Can("policy") && sess.Can("sensitive")) {
		return false
	}
	return mayRead(sess, name, old) && mayRead(sess, name, data)
}

// fileRefs resolves /file numbers: names, *ids, print numbers, comma lists.
func (s *system) fileRefs(ctx context.Context, c *control.Call) ([]string, error) {
	ref, _ := c.S.Get("numbers")
	rows, err := s.fileRows(ctx, c.Sess)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, part := range strings.Split(ref, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		found := ""
		for i, r := range rows {
			if r.Props["name"] == part || control.FormatID(r.ID) == strings.ToUpper(part) || strconv.Itoa(i) == part {
				found = r.Props["name"]
				break
			}
		}
		if found == "" {
			return nil, control.ErrNoSuchItem
		}
		out = append(out, found)
	}
	if len(out) == 0 {
		return nil, &control.Error{Msg: "expected item id", Category: control.CatMissing}
	}
	return out, nil
}

func (s *system) fileRemove(ctx context.Context, c *control.Call) (*control.Reply, error) {
	names, err := s.fileRefs(ctx, c)
	if err != nil {
		return nil, err
	}
	r, err := s.openFiles()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for _, n := range names {
		if err := r.RemoveAll(filepath.FromSlash(n)); err != nil {
			return nil, control.Failure("cannot remove %s: %v", n, fileErr(err))
		}
	}
	return &control.Reply{Menu: c.Menu}, nil
}

func (s *system) fileSet(ctx context.Context, c *control.Call) (*control.Reply, error) {
	names, err := s.fileRefs(ctx, c)
	if err != nil {
		return nil, err
	}
	text, ok := c.S.Get("contents")
	if !ok {
		return &control.Reply{Menu: c.Menu}, nil
	}
	if len(text) > maxContents {
		return nil, control.ArgError("contents longer than %d bytes", maxContents)
	}
	for _, n := range names {
		if fileType(n, s.isDir(n)) == "directory" {
			return nil, control.Failure("%s is a directory", n)
		}
		old, _ := s.readFile(n)
		if !mayWrite(c.Sess, n, old, []byte(text)) {
			return nil, control.ErrPermission
		}
		if err := s.writeFile(filepath.FromSlash(n), []byte(text)); err != nil {
			return nil, err
		}
	}
	return &control.Reply{Menu: c.Menu}, nil
}

func (s *system) isDir(name string) bool {
	r, err := s.openFiles()
	if err != nil {
		return false
	}
	defer r.Close()
	fi, err := r.Stat(filepath.FromSlash(name))
	return err == nil && fi.IsDir()
}

// fileAdd creates a file (with contents=) or a directory (type=directory).
func (s *system) fileAdd(ctx context.Context, c *control.Call) (*control.Reply, error) {
	arg, _ := c.S.Get("name")
	name, err := cleanName(arg)
	if err != nil {
		return nil, control.ArgError("invalid value for argument name")
	}
	if s.exists(name) {
		return nil, control.Failure("file already exists")
	}
	text, _ := c.S.Get("contents")
	if len(text) > maxContents {
		return nil, control.ArgError("contents longer than %d bytes", maxContents)
	}
	if !mayWrite(c.Sess, name, nil, []byte(text)) {
		return nil, control.ErrPermission
	}
	if t, _ := c.S.Get("type"); t == "directory" {
		r, err := s.openFiles()
		if err != nil {
			return nil, err
		}
		defer r.Close()
		if err := r.MkdirAll(name, 0o700); err != nil {
			return nil, control.Failure("cannot create %s: %v", name, fileErr(err))
		}
	} else if err := s.writeFile(name, []byte(text)); err != nil {
		return nil, err
	}
	return &control.Reply{Menu: c.Menu, Ret: control.FormatID(s.fileIDs.id(filepath.ToSlash(name)))}, nil
}

// zoneName is the IANA name of the process's time zone: TZ, else the target of
// /etc/localtime, else /etc/timezone, else what Go calls it.
func zoneName() string {
	if tz := strings.TrimPrefix(os.Getenv("TZ"), ":"); tz != "" && !strings.HasPrefix(tz, "/") {
		return tz
	}
	if t, err := os.Readlink("/etc/localtime"); err == nil {
		if _, z, ok := strings.Cut(t, "zoneinfo/"); ok {
			return z
		}
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	if n := time.Local.String(); n != "Local" {
		return n
	}
	return "UTC"
}

// clockZone is the zone /system clock shows: one set with /system clock set, else the
// process's. autodetect is only remembered: routerd takes no zone from the network. It is
// the router's (two routers in one test process keep their own), read by print and the
// next set.
type clockZone struct {
	mu         sync.Mutex
	name       string
	loc        *time.Location
	autodetect string
}

func (z *clockZone) get() (name string, loc *time.Location, autodetect string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	name, loc, autodetect = z.name, z.loc, z.autodetect
	if loc == nil {
		name, loc = zoneName(), time.Local
	}
	if autodetect == "" {
		autodetect = "no"
	}
	return name, loc, autodetect
}

func (z *clockZone) set(name string, loc *time.Location, autodetect string) {
	z.mu.Lock()
	z.name, z.loc, z.autodetect = name, loc, autodetect
	z.mu.Unlock()
}

// zoneNow is the zone /system clock shows: for time-zone-name=manual the one /system
// clock manual describes now (it is set there, without a set of /system clock).
func (s *system) zoneNow() (name string, loc *time.Location, autodetect string) {
	name, loc, autodetect = s.zone.get()
	if name == control.ManualZone {
		if l, err := control.ZoneLocation(name, s.manualProps()); err == nil {
			loc = l
		}
	}
	return name, loc, autodetect
}

// manualProps are /system clock manual's properties (none set: its defaults).
func (s *system) manualProps() map[string]string {
	items, err := s.ex.Items(ClockManualPath)
	if err != nil || len(items) == 0 {
		return nil
	}
	return items[0].Props
}

func (s *system) clockRow(context.Context, *control.Session) ([]control.Row, error) {
	name, loc, autodetect := s.zoneNow()
	now := s.ex.Now().In(loc)
	_, off := now.Zone()
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	dst := "no"
	if now.IsDST() {
		dst = "yes"
	}
	return []control.Row{{ID: 1, Props: map[string]string{
		"time":                 now.Format("15:04:05"),
		"date":                 now.Format("2006-01-02"),
		"time-zone-autodetect": autodetect,
		"time-zone-name":       name,
		"gmt-offset":           sign + time.Time{}.Add(time.Duration(off)*time.Second).Format("15:04"),
		"dst-active":           dst,
	}}}, nil
}

// clockSet sets the zone routerd shows time in, always: a zone does not change the
// machine's clock, and nearly every RouterOS export sets one. The date and time change
// the machine's clock, so they need --allow-clock-set.
func (s *system) clockSet(ctx context.Context, c *control.Call) (*control.Reply, error) {
	_, hasDate := c.S.Get("date")
	_, hasTime := c.S.Get("time")
	if (hasDate || hasTime) && !AllowClockSet {
		return nil, control.Failure("setting the clock is not allowed: routerd runs without --allow-clock-set (the machine's clock belongs to NTP or PTP)")
	}
	name, loc, autodetect := s.zoneNow()
	if v, ok := c.S.Get("time-zone-name"); ok {
		// A tz database name, or manual: /system clock manual's offset.
		l, err := control.ZoneLocation(v, s.manualProps())
		if err != nil {
			return nil, control.ArgError("invalid value for argument time-zone-name")
		}
		name, loc = v, l
	}
	if v, ok := c.S.Get("time-zone-autodetect"); ok {
		switch v {
		case "yes", "true":
			autodetect = "yes"
		case "no", "false":
			autodetect = "no"
		default:
			return nil, control.ArgError("invalid value for argument time-zone-autodetect")
		}
	}
	now := s.ex.Now().In(loc)
	date, clock := now.Format("2006-01-02"), now.Format("15:04:05")
	dv, _ := c.S.Get("date")
	tv, _ := c.S.Get("time")
	if hasDate {
		date = dv
	}
	if hasTime {
		clock = tv
	}
	var set time.Time
	if hasDate || hasTime {
		t, err := time.ParseInLocation("2006-01-02 15:04:05", date+" "+clock, loc)
		if err != nil {
			return nil, control.ArgError("invalid value for argument date or time")
		}
		set = t
	}
	if s.dry {
		return &control.Reply{Menu: c.Menu}, nil
	}
	if !set.IsZero() {
		tv := unix.NsecToTimeval(set.UnixNano())
		if err := unix.Settimeofday(&tv); err != nil {
			return nil, control.Failure("cannot set the clock: %v", err)
		}
	}
	if err := s.saveZone(name, autodetect); err != nil {
		return nil, control.Failure("cannot save the time zone: %v", err)
	}
	s.zone.set(name, loc, autodetect)
	// The zone is configuration RouterOS exports (/system clock set time-zone-name=):
	// kept in the store too, so /export and backups carry it.
	_, setName := c.S.Get("time-zone-name")
	_, setAuto := c.S.Get("time-zone-autodetect")
	if setName || setAuto {
		err := s.ex.Update(c.Sess, func(tx *store.Tx) ([]control.Change, error) {
			it, err := tx.Get(c.Menu.Path, 1)
			if err != nil {
				it = store.Item{ID: 1, Props: map[string]string{}}
			}
			if setName {
				it.Props["time-zone-name"] = name
			}
			if setAuto {
				it.Props["time-zone-autodetect"] = autodetect
			}
			if err := tx.Put(c.Menu.Path, it, 0); err != nil {
				return nil, err
			}
			return []control.Change{{Path: c.Menu.Path, ID: 1, Op: "set"}}, nil
		})
		if err != nil {
			return nil, control.Failure("cannot save the time zone: %v", err)
		}
	}
	return &control.Reply{Menu: c.Menu}, nil
}

// zoneFile keeps the zone set with /system clock set across restarts: the clock menu
// is not in the store (its time and date are the machine's).
const zoneFile = "clock-zone"

func (s *system) saveZone(name, autodetect string) error {
	if s.dataDir == "" {
		return nil
	}
	p := filepath.Join(s.dataDir, zoneFile)
	if err := os.WriteFile(p+".tmp", []byte(name+"\n"+autodetect+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(p+".tmp", p)
}

// loadZone restores the zone a previous run saved; a missing or unknown one leaves the
// process's zone.
func (s *system) loadZone() {
	b, err := os.ReadFile(filepath.Join(s.dataDir, zoneFile))
	if err != nil || s.dataDir == "" {
		return
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return
	}
	loc, err := control.ZoneLocation(f[0], nil) // manual: zoneNow reads /system clock manual
	if err != nil {
		slog.Warn("system clock: saved time zone", "zone", f[0], "err", err)
		return
	}
	s.zone.set(f[0], loc, f[1])
}

// packageRows is routerd as the one installed package, as RouterOS lists routeros.
func (s *system) packageRows(context.Context, *control.Session) ([]control.Row, error) {
	p := map[string]string{"name": "routerd", "version": control.Version, "build-time": buildTime(),
		"disabled": "no", "scheduled": ""}
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			p["size"] = strconv.FormatInt(fi.Size(), 10)
		}
	}
	m, _ := s.ex.Tree.Get(PackagePath)
	return []control.Row{{ID: 1, Menu: m, Props: p}}, nil
}
