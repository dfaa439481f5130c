package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/api"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/service"
)

// Authenticator checks a user's credentials for a service and opens an executor session
// carrying the user's policies (control/user.Auth).
type Authenticator interface {
	Login(ctx context.Context, name, password string, remote netip.Addr, service string) (*control.Session, error)
}

// Server is one www or www-ssl service.
type Server struct {
	Ex   *control.Executor
	Auth Authenticator
	// Service is "www" or "www-ssl": the name logins are made for.
	Service string
	// Identity names the router on the status page (nil: "MikroTik").
	Identity func() string
	// CRL gives the DER CRL a CA of the router publishes at /crl/SERIAL.crl (its
	// certificates' distribution point); nil: none served.
	CRL func(serial string) ([]byte, bool)
	// StreamLimit bounds a call of a command that goes on (0: DefaultStreamLimit).
	StreamLimit time.Duration
}

// DefaultStreamLimit bounds a REST call of a command that goes on (ping,
// monitor-traffic, print follow): RouterOS's REST gives every call 60 s.
const DefaultStreamLimit = 60 * time.Second

func (s *Server) streamLimit() time.Duration {
	if s.StreamLimit > 0 {
		return s.StreamLimit
	}
	return DefaultStreamLimit
}

// JobLimit bounds how long an :execute job a REST request started runs after the answer:
// no connection stays whose end would end it.
const JobLimit = 10 * time.Minute

// shutdownGrace is how long requests in progress get when the service stops.
const shutdownGrace = 5 * time.Second

// Serve answers HTTP on ln (the service manager's listener, already TLS for www-ssl)
// until ctx ends. It returns nil when stopped by ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if hs.Shutdown(sctx) != nil {
			hs.Close()
		}
	}()
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-stopped
		return nil
	}
	return err
}

// ServeHTTP routes /rest/... to the REST API and / to the status page.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			slog.Error("www request panicked", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			writeError(w, http.StatusInternalServerError, "failure: internal error")
		}
	}()
	switch {
	case r.URL.Path == Prefix || strings.HasPrefix(r.URL.Path, Prefix+"/"):
		s.serveREST(w, r)
	case r.URL.Path == "/":
		s.serveStatus(w, r)
	case strings.HasPrefix(r.URL.Path, "/crl/") && s.CRL != nil:
		s.serveCRL(w, r)
	default:
		writeError(w, http.StatusNotFound, "")
	}
}

// serveCRL answers GET /crl/SERIAL.crl with a CA's CRL, without a login (RouterOS
// publishes its CAs' lists to anyone who can reach www, as distribution points are).
func (s *Server) serveCRL(w http.ResponseWriter, r *http.Request) {
	serial, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/crl/"), ".crl")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "")
		return
	}
	der, found := s.CRL(serial)
	if !ok || !found {
		writeError(w, http.StatusNotFound, "")
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Write(der)
}

// login authenticates the request's Basic credentials; on failure it has answered 401.
func (s *Server) login(w http.ResponseWriter, r *http.Request) (*control.Session, bool) {
	name, pass, ok := r.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="routerd"`)
		writeError(w, http.StatusUnauthorized, "")
		return nil, false
	}
	var remote netip.Addr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		remote = ap.Addr().Unmap()
	}
	sess, err := s.Auth.Login(r.Context(), name, pass, remote, s.Service)
	if err != nil || sess == nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="routerd"`)
		writeError(w, http.StatusUnauthorized, "")
		return nil, false
	}
	// A connection that has made an authenticated request no longer counts against
	// its source's pre-login share of max-sessions.
	if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
		service.LoggedIn(c)
	}
	return sess, true
}

// connKey is where ConnContext leaves a request's connection.
type connKey struct{}

func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.login(w, r)
	if !ok {
		return
	}
	// A request is a login of its own: what it leaves (globals an imported file
	// made) ends with it. Its :execute jobs (POST /rest/execute, answered at once
	// with the job's id) run on for at most JobLimit.
	defer sess.End()
	sess.JobsOutlive = JobLimit
	if !sess.Can("rest-api") {
		writeError(w, http.StatusUnauthorized, "not enough permissions (9)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "request body too large")
		return
	}
	c, err := parse(s.Ex.Tree, r.Method, r.URL.EscapedPath(), r.URL.RawQuery, body)
	if err != nil {
		var re *reqError
		if errors.As(err, &re) {
			writeError(w, re.status, re.detail)
		} else {
			writeError(w, http.StatusBadRequest, err.Error())
		}
		return
	}
	status, out, detail := s.run(r.Context(), sess, c)
	switch {
	case status >= 400:
		writeError(w, status, detail)
	case out == nil:
		w.WriteHeader(status)
	default:
		writeJSON(w, status, out)
	}
}

// result is what api.Exec answered, split by reply word.
type result struct {
	rows   []map[string]string
	ret    string
	hasRet bool
	trap   *control.Error
}

// runAPI runs one API request and collects its replies.
func (s *Server) runAPI(ctx context.Context, sess *control.Session, req api.Request) result {
	var res result
	var sens [][]string
	if api.Streams(req) {
		// A command that goes on answers what it reported until its count, duration
		// or once ended it; one that would go on for ever fails at the time limit, as
		// RouterOS's REST does.
		sctx, cancel := context.WithTimeout(ctx, s.streamLimit())
		defer cancel()
		var mu sync.Mutex
		end := api.ExecStream(sctx, s.Ex, sess, req, func(words []string) {
			mu.Lock()
			sens = append(sens, words)
			mu.Unlock()
		})
		mu.Lock()
		sens = append(sens, end...)
		mu.Unlock()
		if errors.Is(sctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			res.trap = &control.Error{Category: control.CatExecute,
				Msg: fmt.Sprintf("timeout: the command ran for %s without ending (give count=, duration= or once)", s.streamLimit())}
			return res
		}
	} else {
		sens = api.Exec(ctx, s.Ex, sess, req)
	}
	for _, sen := range sens {
		if len(sen) == 0 {
			continue
		}
		switch sen[0] {
		case "!re":
			row := make(map[string]string, len(sen)-1)
			for _, w := range sen[1:] {
				if k, v, ok := strings.Cut(strings.TrimPrefix(w, "="), "="); ok {
					row[k] = v
				}
			}
			res.rows = append(res.rows, row)
		case "!trap":
			e := &control.Error{}
			for _, w := range sen[1:] {
				if v, ok := strings.CutPrefix(w, "=message="); ok {
					e.Msg = v
				} else if v, ok := strings.CutPrefix(w, "=category="); ok {
					for _, d := range v {
						e.Category = e.Category*10 + int(d-'0')
					}
				}
			}
			res.trap = e
		case "!done":
			for _, w := range sen[1:] {
				if v, ok := strings.CutPrefix(w, "=ret="); ok {
					res.ret, res.hasRet = v, true
				}
			}
		}
	}
	return res
}

// run executes a call. It returns the HTTP status and either the JSON value to send or,
// for errors, the RouterOS message.
func (s *Server) run(ctx context.Context, sess *control.Session, c *call) (int, any, string) {
	path := c.menu.Path
	req := api.Request{Command: path + "/" + verb(c), Attrs: c.attrs}
	single := c.menu.Kind == menu.Single
	switch c.op {
	case opPrint, opGetOne, opCommand:
		if c.hasProplist {
			req.API = map[string]string{".proplist": c.proplist}
		}
		req.Queries = c.queries
		if c.op == opGetOne {
			q, ok := refQuery(c.menu, c.ref)
			if !ok {
				return http.StatusNotFound, nil, "no such item"
			}
			req.Queries = append([]string{q}, req.Queries...)
		}
	case opSet, opRemove:
		if c.ref != "" {
			// The path names the item as GET reads it (.id, or name): a bare number
			// is neither, and must not reach the API's numbers as a console number.
			id, ok := s.resolveRef(ctx, sess, c.menu, c.ref)
			if !ok {
				return http.StatusNotFound, nil, "no such item"
			}
			c.ref = id
			req.Attrs = append([]api.Attr{{Name: ".id", Value: id}}, req.Attrs...)
		}
	}
	res := s.runAPI(ctx, sess, req)
	if res.trap != nil {
		return errorStatus(c, res.trap), nil, res.trap.Msg
	}
	switch c.op {
	case opPrint:
		if single && len(res.rows) == 1 {
			// RouterOS answers a single-object menu (/system/identity) with the object.
			return http.StatusOK, objects(res.rows, true)[0], ""
		}
		return http.StatusOK, objects(res.rows, single), ""
	case opGetOne:
		if len(res.rows) == 0 {
			return http.StatusNotFound, nil, "no such item"
		}
		return http.StatusOK, res.rows[0], ""
	case opAdd:
		if !res.hasRet {
			return http.StatusOK, map[string]string{}, ""
		}
		return s.fetch(ctx, sess, c.menu, res.ret)
	case opSet:
		if single {
			r := s.runAPI(ctx, sess, api.Request{Command: path + "/print"})
			if r.trap != nil || len(r.rows) == 0 {
				return http.StatusOK, map[string]string{}, ""
			}
			return http.StatusOK, objects(r.rows, true)[0], ""
		}
		return s.fetch(ctx, sess, c.menu, c.ref)
	case opRemove:
		return http.StatusNoContent, nil, ""
	}
	// POST: rows when the command printed, else its return value, else nothing.
	switch {
	case len(res.rows) > 0:
		return http.StatusOK, objects(res.rows, single), ""
	case res.hasRet:
		return http.StatusOK, map[string]string{"ret": res.ret}, ""
	}
	return http.StatusOK, []map[string]string{}, ""
}

func verb(c *call) string {
	switch c.op {
	case opPrint, opGetOne:
		return "print"
	case opAdd:
		return "add"
	case opSet:
		return "set"
	case opRemove:
		return "remove"
	}
	return c.cmd
}

// fetch prints one item after add or set, as PUT and PATCH answer with it.
func (s *Server) fetch(ctx context.Context, sess *control.Session, m *menu.Menu, ref string) (int, any, string) {
	q, ok := refQuery(m, ref)
	if !ok {
		return http.StatusOK, map[string]string{}, ""
	}
	r := s.runAPI(ctx, sess, api.Request{Command: m.Path + "/print", Queries: []string{q}})
	if r.trap != nil || len(r.rows) == 0 {
		// Changed, but not readable by this user or gone already: the change stands.
		return http.StatusOK, map[string]string{}, ""
	}
	return http.StatusOK, r.rows[0], ""
}

// resolveRef finds the .id of the item a path names (refQuery), as this user may read it.
func (s *Server) resolveRef(ctx context.Context, sess *control.Session, m *menu.Menu, ref string) (string, bool) {
	q, ok := refQuery(m, ref)
	if !ok {
		return "", false
	}
	r := s.runAPI(ctx, sess, api.Request{Command: m.Path + "/print", Queries: []string{q},
		API: map[string]string{".proplist": ".id"}})
	if r.trap != nil || len(r.rows) == 0 || r.rows[0][".id"] == "" {
		return "", false
	}
	return r.rows[0][".id"], true
}

// refQuery is the API query selecting the item a path names: by .id, or by name in
// menus whose items have one.
func refQuery(m *menu.Menu, ref string) (string, bool) {
	if _, ok := control.ParseID(ref); ok {
		return ".id=" + ref, true
	}
	if np := m.NameProp(); np != "" {
		return np + "=" + ref, true
	}
	return "", false
}

// objects returns rows as the JSON array; single menus have no item ids.
func objects(rows []map[string]string, single bool) []map[string]string {
	if rows == nil {
		return []map[string]string{}
	}
	if single {
		for _, r := range rows {
			delete(r, ".id")
		}
	}
	return rows
}

// errorStatus maps a command's failure to an HTTP status: a missing item named in the
// path is 404, a crash inside routerd 500, anything else the client's 400.
func errorStatus(c *call, e *control.Error) int {
	switch {
	case e.Category == control.CatMissing && e.Msg == control.ErrNoSuchItem.Msg &&
		(c.op == opGetOne || c.op == opSet || c.op == opRemove):
		return http.StatusNotFound
	case strings.HasPrefix(e.Msg, "failure: internal error"):
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// apiError is the body of every error reply.
type apiError struct {
	Error   int    `json:"error"`
	Message string `json:"message"`
	Detail  string `json:"detail,omitempty"`
}

func writeError(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, apiError{Error: status, Message: http.StatusText(status), Detail: detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshalRaw(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":500,"message":"Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// rawByte is where a byte that is not UTF-8 waits while encoding/json (which would make
// it U+FFFD) writes the value: a rune of plane 16's private use area, U+10FF00 + byte.
const rawByte = 0x10FF00

// marshalRaw is json.Marshal, except that the bytes of a value that are not UTF-8 (a
// Latin-1 or CP1251 comment from a RouterOS export) go out as they are, as RouterOS's
// REST sends them, never as U+FFFD. Values that are UTF-8 are untouched.
func marshalRaw(v any) ([]byte, error) {
	found := false
	mark := func(s string) string {
		if utf8.ValidString(s) {
			return s
		}
		found = true
		var b strings.Builder
		for i, r := range s {
			if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
				b.WriteRune(rawByte + rune(s[i]))
				continue
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	markMap := func(m map[string]string) map[string]string {
		out := make(map[string]string, len(m))
		for k, x := range m {
			out[mark(k)] = mark(x)
		}
		return out
	}
	switch t := v.(type) {
	case map[string]string:
		v = markMap(t)
	case []map[string]string:
		l := make([]map[string]string, len(t))
		for i, m := range t {
			l[i] = markMap(m)
		}
		v = l
	}
	b, err := json.Marshal(v)
	if err != nil || !found {
		return b, err
	}
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r >= rawByte && r <= rawByte+0xFF {
			out = append(out, byte(r-rawByte))
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out, nil
}
