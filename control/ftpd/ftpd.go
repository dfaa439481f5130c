package ftpd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path"
	"strings"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/service"
)

// Service is the /ip service name logins are made for.
const Service = "ftp"

// Authenticator checks logins against /user (control/user.Auth).
type Authenticator interface {
	Login(ctx context.Context, name, password string, remote netip.Addr, service string) (*control.Session, error)
}

// Server is the ftp service.
type Server struct {
	Auth Authenticator
	// Dir is the folder served (the data dir's files/).
	Dir string
}

const (
	maxLine     = 4096
	idleTimeout = 5 * time.Minute
	dataTimeout = 30 * time.Second
)

// Serve runs the service on ln until ln fails or ctx ends (then nil).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return service.ServeConns(ctx, ln, "ftp", s.serveConn)
}

// session is one control connection.
type session struct {
	s      *Server
	c      net.Conn
	w      *bufio.Writer
	remote netip.Addr
	user   string
	sess   *control.Session
	root   *os.Root
	cwd    string // virtual path, "/" is Dir
	pasv   net.Listener
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	se := &session{s: s, c: c, w: bufio.NewWriter(c), cwd: "/"}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		se.remote = a.AddrPort().Addr().Unmap()
	}
	defer se.closeData()
	defer func() {
		if se.root != nil {
			se.root.Close()
		}
		se.sess.End() // off /user active
	}()
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 512), maxLine)
	se.reply(220, "routerd FTP server ready")
	// Until it logs in, a connection gets service.LoginTimeout in all, however busy
	// it keeps (NOOP): twenty idle strangers used to hold every slot.
	loginBy := time.Now().Add(service.LoginTimeout)
	for {
		deadline := time.Now().Add(idleTimeout)
		if se.sess == nil && loginBy.Before(deadline) {
			deadline = loginBy
		}
		c.SetReadDeadline(deadline)
		if !sc.Scan() {
			if se.sess == nil && !time.Now().Before(loginBy) {
				se.reply(421, "Login timeout")
			}
			if errors.Is(sc.Err(), bufio.ErrTooLong) {
				se.reply(500, "Line too long")
			}
			return
		}
		line := strings.TrimRight(sc.Text(), "\r")
		cmd, arg, _ := strings.Cut(line, " ")
		cmd = strings.ToUpper(cmd)
		if !se.handle(ctx, cmd, arg) {
			return
		}
	}
}

func (se *session) reply(code int, format string, args ...any) {
	fmt.Fprintf(se.w, "%d %s\r\n", code, fmt.Sprintf(format, args...))
	se.w.Flush()
}

// handle runs one command; false ends the session.
func (se *session) handle(ctx context.Context, cmd, arg string) bool {
	switch cmd {
	case "QUIT":
		se.reply(221, "Goodbye")
		return false
	case "USER":
		se.sess.End()
		se.user, se.sess = arg, nil
		se.reply(331, "Password required for %s", arg)
		return true
	case "PASS":
		if se.user == "" {
			se.reply(503, "Login with USER first")
			return true
		}
		sess, err := se.s.Auth.Login(ctx, se.user, arg, se.remote, Service)
		if err != nil || !sess.Can("ftp") {
			se.reply(530, "Login incorrect")
			return true
		}
		root, err := os.OpenRoot(se.s.Dir)
		if err != nil {
			slog.Error("ftp: cannot open the files folder", "dir", se.s.Dir, "err", err)
			se.reply(421, "Files folder not available")
			return false
		}
		se.sess, se.root, se.cwd = sess, root, "/"
		service.LoggedIn(se.c)
		se.reply(230, "User %s logged in", se.user)
		return true
	case "SYST":
		se.reply(215, "UNIX Type: L8")
		return true
	case "NOOP":
		se.reply(200, "OK")
		return true
	case "FEAT":
		fmt.Fprintf(se.w, "211-Features:\r\n SIZE\r\n EPSV\r\n PASV\r\n UTF8\r\n211 End\r\n")
		se.w.Flush()
		return true
	case "OPTS":
		se.reply(200, "OK")
		return true
	}
	if se.sess == nil {
		se.reply(530, "Please login with USER and PASS")
		return true
	}
	switch cmd {
	case "PWD", "XPWD":
		se.reply(257, "%q is the current directory", se.cwd)
	case "CWD", "XCWD", "CDUP":
		if cmd == "CDUP" {
			arg = ".."
		}
		v := se.virtual(arg)
		fi, err := se.root.Stat(rel(v))
		if err != nil || !fi.IsDir() {
			se.reply(550, "%s: no such directory", arg)
			break
		}
		se.cwd = v
		se.reply(250, "Directory changed to %s", v)
	case "TYPE":
		switch strings.ToUpper(strings.TrimSpace(arg)) {
		case "A", "A N", "I", "L 8":
			// Files go byte for byte either way: backups and scripts are sent as
			// they are stored.
			se.reply(200, "Type set to %s", arg)
		default:
			se.reply(504, "Type not supported")
		}
	case "MODE", "STRU":
		if a := strings.ToUpper(arg); a == "S" || a == "F" {
			se.reply(200, "OK")
		} else {
			se.reply(504, "Not supported")
		}
	case "PASV":
		se.passive(false)
	case "EPSV":
		if strings.EqualFold(arg, "ALL") {
			se.reply(200, "EPSV ALL ok")
			break
		}
		se.passive(true)
	case "LIST", "NLST":
		se.list(cmd == "NLST", arg)
	case "RETR":
		se.retr(arg)
	case "STOR":
		se.stor(arg)
	case "DELE":
		v := se.virtual(arg)
		if fi, err := se.root.Stat(rel(v)); err != nil || fi.IsDir() {
			se.reply(550, "%s: no such file", arg)
			break
		}
		if err := se.root.Remove(rel(v)); err != nil {
			se.reply(550, "%s: cannot delete", arg)
			break
		}
		se.reply(250, "Deleted %s", arg)
	case "SIZE":
		fi, err := se.root.Stat(rel(se.virtual(arg)))
		if err != nil || !fi.Mode().IsRegular() {
			se.reply(550, "%s: no such file", arg)
			break
		}
		se.reply(213, "%d", fi.Size())
	default:
		se.reply(502, "Command not implemented")
	}
	return true
}

// virtual resolves a client path against the current directory. The result starts
// with "/" and path.Clean keeps ".." from climbing above it; os.Root then keeps
// symbolic links inside.
func (se *session) virtual(p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Clean(path.Join(se.cwd, p))
}

// rel is a virtual path as os.Root names it.
func rel(v string) string {
	if r := strings.TrimPrefix(v, "/"); r != "" {
		return r
	}
	return "."
}

// passive opens the data listener on the control connection's local address.
func (se *session) passive(extended bool) {
	se.closeData()
	local, ok := se.c.LocalAddr().(*net.TCPAddr)
	if !ok {
		se.reply(425, "Cannot open data connection")
		return
	}
	ip := local.AddrPort().Addr().Unmap()
	if !extended && !ip.Is4() {
		se.reply(522, "Use EPSV on IPv6")
		return
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		se.reply(425, "Cannot open data connection")
		return
	}
	se.pasv = ln
	port := ln.Addr().(*net.TCPAddr).Port
	if extended {
		se.reply(229, "Entering Extended Passive Mode (|||%d|)", port)
		return
	}
	a := ip.As4()
	se.reply(227, "Entering Passive Mode (%d,%d,%d,%d,%d,%d)", a[0], a[1], a[2], a[3], port>>8, port&0xff)
}

func (se *session) closeData() {
	if se.pasv != nil {
		se.pasv.Close()
		se.pasv = nil
	}
}

// data accepts the data connection of a transfer: from the client's address only, so
// that another host cannot take a file by connecting to the port first.
func (se *session) data() (net.Conn, error) {
	ln := se.pasv
	if ln == nil {
		return nil, errors.New("use PASV or EPSV first")
	}
	defer se.closeData()
	deadline := time.Now().Add(dataTimeout)
	ln.(*net.TCPListener).SetDeadline(deadline)
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil, err
		}
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok && a.AddrPort().Addr().Unmap() == se.remote {
			c.SetDeadline(time.Now().Add(idleTimeout))
			return c, nil
		}
		c.Close()
	}
}

// transfer runs fn over the data connection with the 150/226 replies around it.
func (se *session) transfer(what string, fn func(c net.Conn) error) {
	if se.pasv == nil {
		se.reply(425, "Use PASV or EPSV first")
		return
	}
	se.reply(150, "Opening data connection for %s", what)
	c, err := se.data()
	if err != nil {
		se.reply(425, "Cannot open data connection")
		return
	}
	err = fn(c)
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		se.reply(426, "Transfer aborted: %s", transferError(err))
		return
	}
	se.reply(226, "Transfer complete")
}

// errNoPermission ends an upload the session may not make.
var errNoPermission = errors.New("not enough permissions")

// transferError words a failure without the server's file system paths.
func transferError(err error) string {
	if errors.Is(err, errNoPermission) {
		return err.Error()
	}
	var pe *iofs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return "connection error"
}

func (se *session) list(namesOnly bool, arg string) {
	// Clients send ls options (LIST -la); there is nothing they would change.
	var p string
	for _, f := range strings.Fields(arg) {
		if !strings.HasPrefix(f, "-") {
			p = f
		}
	}
	v := se.virtual(p)
	fi, err := se.root.Stat(rel(v))
	if err != nil {
		se.reply(550, "%s: no such file or directory", p)
		return
	}
	var entries []iofs.FileInfo
	if fi.IsDir() {
		d, err := se.root.Open(rel(v))
		if err != nil {
			se.reply(550, "%s: cannot open", p)
			return
		}
		des, err := d.ReadDir(-1)
		d.Close()
		if err != nil {
			se.reply(550, "%s: cannot read", p)
			return
		}
		for _, de := range des {
			if info, err := de.Info(); err == nil {
				entries = append(entries, info)
			}
		}
	} else {
		entries = []iofs.FileInfo{fi}
	}
	se.transfer("file list", func(c net.Conn) error {
		w := bufio.NewWriter(c)
		for _, e := range entries {
			if namesOnly {
				fmt.Fprintf(w, "%s\r\n", e.Name())
			} else {
				fmt.Fprintf(w, "%s\r\n", listLine(e, time.Now()))
			}
		}
		return w.Flush()
	})
}

// listLine formats an entry as ls -l does, which is what FTP clients parse.
func listLine(fi iofs.FileInfo, now time.Time) string {
	mode := "-rw-r--r--"
	if fi.IsDir() {
		mode = "drwxr-xr-x"
	}
	t := fi.ModTime()
	stamp := t.Format("Jan _2 15:04")
	if t.Before(now.AddDate(0, -6, 0)) || t.After(now.Add(time.Hour)) {
		stamp = t.Format("Jan _2  2006")
	}
	return fmt.Sprintf("%s 1 routerd routerd %12d %s %s", mode, fi.Size(), stamp, fi.Name())
}

func (se *session) retr(arg string) {
	f, err := se.root.Open(rel(se.virtual(arg)))
	if err != nil {
		se.reply(550, "%s: no such file", arg)
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		se.reply(550, "%s: not a file", arg)
		return
	}
	// Backups and exported private keys: only who may see secrets fetches them, as
	// /file shows their contents (control.SecretFile).
	head := make([]byte, control.SecretFileHead)
	n, _ := f.ReadAt(head, 0)
	if control.SecretFile(arg, head[:n]) && !se.sess.Can("sensitive") {
		se.reply(550, "%s: not enough permissions", arg)
		return
	}
	se.transfer(arg, func(c net.Conn) error {
		_, err := io.Copy(c, f)
		return err
	})
}

func (se *session) stor(arg string) {
	v := se.virtual(arg)
	if v == "/" {
		se.reply(553, "%s: bad file name", arg)
		return
	}
	// A backup is what /system backup load and --store-recover=backup trust, an
	// exported key what export-certificate guards: replacing or planting one needs
	// what /file asks for. The upload goes to a part file and takes the name only once
	// its first bytes are known.
	if old, err := se.head(v); err == nil && !se.mayReplace(arg, old) {
		se.reply(550, "%s: not enough permissions", arg)
		return
	}
	part := path.Join(path.Dir(v), "."+path.Base(v)+".part")
	// Files hold secrets (backups, keys): only routerd reads them.
	f, err := se.root.OpenFile(rel(part), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		se.reply(553, "%s: cannot create", arg)
		return
	}
	refused := false
	se.transfer(arg, func(c net.Conn) error {
		_, err := io.Copy(f, c)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if head, herr := se.head(part); herr != nil || !se.mayReplace(arg, head) {
			refused = true
			return errNoPermission
		}
		return se.root.Rename(rel(part), rel(v))
	})
	f.Close()
	if refused || func() bool { _, err := se.root.Stat(rel(part)); return err == nil }() {
		se.root.Remove(rel(part))
	}
}

// head is the first bytes of a file, as control.SecretFile looks at them.
func (se *session) head(v string) ([]byte, error) {
	f, err := se.root.Open(rel(v))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, control.SecretFileHead)
	n, _ := f.ReadAt(b, 0)
	return b[:n], nil
}

// mayReplace says whether the session may write a file called name whose text starts
// with head: backups (by name or text) need policy and sensitive, keys sensitive.
func (se *session) mayReplace(name string, head []byte) bool {
	backup := strings.HasSuffix(strings.ToLower(name), ".backup") || bytes.HasPrefix(head, []byte(control.BackupHeader))
	if backup {
		return se.sess.Can("policy") && se.sess.Can("sensitive")
	}
	return !control.SecretFile(name, head) || se.sess.Can("sensitive")
}
