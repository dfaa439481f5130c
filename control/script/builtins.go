package script

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net/url"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/routerd/routerd/control"
)

// maxExecuteOutput bounds what :execute as-string returns (the manual's 64 kB).
const maxExecuteOutput = 64 << 10

// jobSeq numbers :execute jobs.
var jobSeq atomic.Uint64

// moreGlobal runs the global commands of §5.6 beyond the core ones: :retry, :execute,
// :convert, :serialize, :deserialize, :rndstr, :tonsec, :grep, :tocrlf, :tolf. ok is false
// for a name it does not know.
func (r *run) moreGlobal(name string, pos []Expr, named map[string]Expr, sc *scope) (v Value, ok bool, err error) {
	arg := func(i int, n string) Expr {
		if x, ok := named[n]; ok && n != "" {
			return x
		}
		if i >= 0 && i < len(pos) {
			return pos[i]
		}
		return nil
	}
	str := func(x Expr) (string, error) {
		if x == nil {
			return "", nil
		}
		v, err := r.eval(x, sc)
		if err != nil {
			return "", err
		}
		return ToString(v), nil
	}
	switch name {
	case "resolve":
		host, err := str(arg(0, "domain-name"))
		if err != nil {
			return nil, true, err
		}
		server, err := str(named["server"])
		if err != nil {
			return nil, true, err
		}
		port, err := str(named["server-port"])
		if err != nil {
			return nil, true, err
		}
		typ, err := str(named["type"])
		if err != nil {
			return nil, true, err
		}
		v, err := r.resolve(host, server, port, typ)
		return v, true, err
	case "retry":
		v, err := r.retry(arg(0, "command"), named, sc)
		return v, true, err
	case "execute":
		// as-string is a flag: it arrives as a word among the unnamed arguments.
		var script Expr
		for _, x := range pos {
			if w, ok := x.(*Word); ok && w.S == "as-string" {
				named["as-string"] = x
			} else if script == nil {
				script = x
			}
		}
		if x, ok := named["script"]; ok {
			script = x
		}
		v, err := r.execute(script, named, sc)
		return v, true, err
	case "convert":
		x, err := r.eval(arg(0, "value"), sc)
		if err != nil {
			return nil, true, err
		}
		from, err := str(named["from"])
		if err != nil {
			return nil, true, err
		}
		to, err := str(named["to"])
		if err != nil {
			return nil, true, err
		}
		tr, err := str(named["transform"])
		if err != nil {
			return nil, true, err
		}
		v, err := convert(x, from, to, tr)
		return v, true, err
	case "serialize":
		x, err := r.eval(arg(0, "value"), sc)
		if err != nil {
			return nil, true, err
		}
		to, err := str(named["to"])
		if err != nil {
			return nil, true, err
		}
		delim, err := str(named["delimiter"])
		if err != nil {
			return nil, true, err
		}
		v, err := serialize(x, to, delim)
		return v, true, err
	case "deserialize":
		s, err := str(arg(0, "value"))
		if err != nil {
			return nil, true, err
		}
		from, err := str(named["from"])
		if err != nil {
			return nil, true, err
		}
		delim, err := str(named["delimiter"])
		if err != nil {
			return nil, true, err
		}
		v, err := deserialize(s, from, delim)
		return v, true, err
	case "rndstr":
		chars, err := str(named["from"])
		if err != nil {
			return nil, true, err
		}
		if chars == "" {
			chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		}
		n := int64(16)
		if x := named["length"]; x != nil {
			lv, err := r.eval(x, sc)
			if err != nil {
				return nil, true, err
			}
			if n, ok = toNum(lv); !ok || n < 0 || n > 65535 {
				return nil, true, &Error{Msg: "invalid length"}
			}
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[rand.IntN(len(chars))]
		}
		return Str(b), true, nil
	case "tonsec":
		x, err := r.eval(arg(0, ""), sc)
		if err != nil {
			return nil, true, err
		}
		switch t := x.(type) {
		case Time:
			return Num(time.Duration(t).Nanoseconds()), true, nil
		case Num:
			return t, true, nil
		}
		return Nil{}, true, nil
	case "tocrlf", "tolf":
		s, err := str(arg(0, ""))
		if err != nil {
			return nil, true, err
		}
		s = strings.ReplaceAll(s, "\r\n", "\n")
		if name == "tocrlf" {
			s = strings.ReplaceAll(s, "\n", "\r\n")
		}
		return Str(s), true, nil
	case "grep":
		v, err := r.grep(named, sc)
		return v, true, err
	}
	return nil, false, nil
}

// retry runs command until it succeeds, at most max times, delay apart; the last error
// propagates.
func (r *run) retry(cmd Expr, named map[string]Expr, sc *scope) (Value, error) {
	max, delay := int64(3), time.Second
	if x := named["max"]; x != nil {
		v, err := r.eval(x, sc)
		if err != nil {
			return nil, err
		}
		n, ok := toNum(v)
		if !ok || n < 1 || n > 1000 {
			return nil, &Error{Msg: "invalid value for argument max"}
		}
		max = n
	}
	if x := named["delay"]; x != nil {
		v, err := r.eval(x, sc)
		if err != nil {
			return nil, err
		}
		d, err := toDuration(v)
		if err != nil {
			return nil, &Error{Msg: "invalid value for argument delay"}
		}
		delay = d
	}
	var last error
	for i := int64(0); i < max; i++ {
		if i > 0 {
			select {
			case <-time.After(delay):
			case <-r.ctx.Done():
				return nil, &Error{Msg: "interrupted"}
			}
		}
		v, err := r.runCode(cmd, sc)
		if err == nil {
			return v, nil
		}
		if _, isRet := err.(returnSignal); isRet {
			return nil, err
		}
		last = err
	}
	return nil, last
}

// toDuration reads a delay: a time, or a number of seconds.
func toDuration(v Value) (time.Duration, error) {
	switch x := v.(type) {
	case Time:
		return time.Duration(x), nil
	case Num:
		return time.Duration(x) * time.Second, nil
	}
	if c := classify(ToString(v)); c != nil {
		return toDuration(c)
	}
	return 0, fmt.Errorf("not a time: %q", ToString(v))
}

// execute runs a script as a background job and returns the job's id; with as-string it
// waits and returns the output instead.
func (r *run) execute(script Expr, named map[string]Expr, sc *scope) (Value, error) {
	src := ""
	switch x := script.(type) {
	case *CodeLit:
		src = x.Src
	case nil:
		return nil, &Error{Msg: "missing value for argument script"}
	default:
		v, err := r.eval(x, sc)
		if err != nil {
			return nil, err
		}
		if c, ok := v.(*Code); ok {
			src = c.Src
		} else {
			src = ToString(v)
		}
	}
	_, asString := named["as-string"]
	return r.in.execute(r.ctx, r.c, src, asString)
}

// Execute is :execute for the entry points that have no script of their own (the API's
// and REST's /execute): src runs as a job of sess, which gets its id back, or with
// asString runs to its end and its output comes back.
func (in *Interp) Execute(ctx context.Context, sess *control.Session, src string, asString bool) (string, error) {
	v, err := in.execute(ctx, &Console{Sess: sess}, src, asString)
	if err != nil {
		return "", err
	}
	return ToString(v), nil
}

// execute runs src as caller's job (see run.execute).
func (in *Interp) execute(rctx context.Context, caller *Console, src string, asString bool) (Value, error) {
	// The job is its caller's in everything but the batch: the same user, policies
	// (nil, every policy, only for root's console) and dry run. A session without
	// policies would run as root: a read-only user's `:execute "/user group set ..."`.
	sess := &control.Session{Policies: map[string]bool{}}
	if cs := caller.Sess; cs != nil {
		sess.User, sess.ShowSensitive, sess.DryRun = cs.User, cs.ShowSensitive, cs.DryRun
		sess.Policies = maps.Clone(cs.Policies)
	}
	c := &Console{Sess: sess, Path: caller.Path}
	if sess.DryRun {
		// A dry run checks the job's source and runs nothing: the job would commit on
		// its own, and as-string would first commit the dry run's batch.
		if _, _, err := Parse(src, caller.Path, in.resolver()); err != nil {
			return nil, err
		}
		if asString {
			return Str(""), nil
		}
		return ID(jobSeq.Add(1)), nil
	}
	if asString {
		// The caller's batch must not hold the store's writer while the job runs.
		inBatch := caller.Sess != nil && caller.Sess.InBatch()
		if inBatch {
			if err := in.Ex.EndBatch(caller.Sess); err != nil {
				return nil, err
			}
		}
		var out limitedBuffer
		in.Globals.adopt(sess, caller.Sess)
		err := in.Run(rctx, c, src, &out)
		in.Globals.release(sess)
		if inBatch {
			if berr := in.Ex.BeginBatch(caller.Sess); berr != nil && err == nil {
				err = berr
			}
		}
		if err != nil {
			return nil, err
		}
		return Str(out.String()), nil
	}
	if _, _, err := Parse(src, caller.Path, in.resolver()); err != nil {
		return nil, err
	}
	id := jobSeq.Add(1)
	if !in.Globals.startJob(sess.User) {
		return nil, ErrTooManyJobs
	}
	// The job outlives the command that started it, not the login: when the caller's
	// session ends (a console or API connection closing) its jobs are cancelled and the
	// globals they made, which count as the caller's, dropped, so a stranger's loops
	// cannot keep the CPU after they left. A login that is one request (REST) gives its
	// jobs JobsOutlive instead, or none would outlive the answer that names it.
	ctx, cancel := context.WithCancel(context.WithoutCancel(rctx))
	if cs := caller.Sess; cs != nil {
		if login := cs.Login(); login.JobsOutlive > 0 {
			ctx, cancel = context.WithTimeout(context.WithoutCancel(rctx), login.JobsOutlive)
		} else {
			login.OnEnd(cancel)
		}
	}
	in.Globals.adopt(sess, caller.Sess)
	go func() {
		defer in.Globals.jobDone(sess.User)
		defer cancel()
		defer in.Globals.release(sess)
		// The job is nobody's command any more: a panic in it (a bug its script hits)
		// ends the job, logged with its stack, and not the daemon.
		defer func() {
			if p := recover(); p != nil {
				slog.Error("script: :execute job panicked", "user", sess.User, "panic", p, "stack", string(debug.Stack()))
			}
		}()
		var out limitedBuffer
		_ = in.Run(ctx, c, src, &out)
	}()
	return ID(id), nil
}

// MaxJobs bounds the :execute jobs one user may have running at once: each is a
// goroutine that may loop for ever.
const MaxJobs = 16

// ErrTooManyJobs is :execute's answer beyond MaxJobs.
var ErrTooManyJobs = &Error{Msg: "too many running jobs"}

// limitedBuffer keeps the first maxExecuteOutput bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxExecuteOutput - b.Len(); room < len(p) {
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// grep runs script= and writes the lines of its output that match pattern=.
func (r *run) grep(named map[string]Expr, sc *scope) (Value, error) {
	pv, err := r.eval(named["pattern"], sc)
	if err != nil {
		return nil, err
	}
	re, err := regexp.CompilePOSIX(ToString(pv))
	if err != nil {
		return nil, &Error{Msg: "invalid pattern"}
	}
	sv, err := r.eval(named["script"], sc)
	if err != nil {
		return nil, err
	}
	src := ToString(sv)
	if c, ok := sv.(*Code); ok {
		src = c.Src
	}
	var out limitedBuffer
	c := &Console{Sess: r.c.Sess, Path: r.c.Path}
	if err := r.in.Run(r.ctx, c, src, &out); err != nil {
		return nil, err
	}
	for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if re.MatchString(l) {
			fmt.Fprintln(r.w, l)
		}
	}
	return Nothing{}, nil
}

// convert is :convert: decode from=, apply transform=, encode to=.
func convert(v Value, from, to, transform string) (Value, error) {
	var raw []byte
	switch from {
	case "", "raw":
		if a, ok := v.(*Array); ok {
			for _, e := range a.List {
				n, ok := toNum(e)
				if !ok || n < 0 || n > 255 {
					return nil, &Error{Msg: "cannot convert array to raw"}
				}
				raw = append(raw, byte(n))
			}
		} else {
			raw = []byte(ToString(v))
		}
	case "base32":
		b, err := base32.StdEncoding.DecodeString(ToString(v))
		if err != nil {
			return nil, &Error{Msg: "invalid base32 input"}
		}
		raw = b
	case "base64":
		b, err := base64.StdEncoding.DecodeString(ToString(v))
		if err != nil {
			return nil, &Error{Msg: "invalid base64 input"}
		}
		raw = b
	case "hex":
		b, err := hex.DecodeString(ToString(v))
		if err != nil {
			return nil, &Error{Msg: "invalid hex input"}
		}
		raw = b
	case "url":
		s, err := url.QueryUnescape(ToString(v))
		if err != nil {
			return nil, &Error{Msg: "invalid url input"}
		}
		raw = []byte(s)
	case "num":
		n, ok := toNum(v)
		if !ok {
			return nil, &Error{Msg: "invalid num input"}
		}
		raw = []byte(strconv.FormatInt(n, 10))
	case "byte-array":
		return convert(v, "raw", to, transform)
	default:
		return nil, &Error{Msg: "input does not match any value of from"}
	}
	for _, t := range strings.Split(transform, ",") {
		switch t {
		case "":
		case "lc":
			raw = bytes.ToLower(raw)
		case "uc":
			raw = bytes.ToUpper(raw)
		case "reverse":
			for i, j := 0, len(raw)-1; i < j; i, j = i+1, j-1 {
				raw[i], raw[j] = raw[j], raw[i]
			}
		case "md5":
			s := md5.Sum(raw)
			raw = s[:]
		case "sha1":
			s := sha1.Sum(raw)
			raw = s[:]
		case "sha256":
			s := sha256.Sum256(raw)
			raw = s[:]
		case "sha512":
			s := sha512.Sum512(raw)
			raw = s[:]
		default:
			return nil, &Error{Msg: "input does not match any value of transform"}
		}
	}
	switch to {
	case "", "raw":
		return Str(raw), nil
	case "base32":
		return Str(base32.StdEncoding.EncodeToString(raw)), nil
	case "base64":
		return Str(base64.StdEncoding.EncodeToString(raw)), nil
	case "hex":
		return Str(hex.EncodeToString(raw)), nil
	case "url":
		return Str(url.QueryEscape(string(raw))), nil
	case "byte-array":
		a := &Array{}
		for _, c := range raw {
			a.List = append(a.List, Num(c))
		}
		return a, nil
	case "num":
		n, err := strconv.ParseInt(string(raw), 0, 64)
		if err != nil {
			return nil, &Error{Msg: "cannot convert to num"}
		}
		return Num(n), nil
	}
	return nil, &Error{Msg: "input does not match any value of to"}
}

// toJSON maps a value to what encoding/json writes: arrays with keys become objects (list
// elements keyed by their index), other arrays lists.
func toJSON(v Value) any {
	switch x := v.(type) {
	case Num:
		return int64(x)
	case Bool:
		return bool(x)
	case Nothing, Nil:
		return nil
	case *Array:
		if len(x.Keys) == 0 {
			l := make([]any, 0, len(x.List))
			for _, e := range x.List {
				l = append(l, toJSON(e))
			}
			return l
		}
		m := map[string]any{}
		x.each(func(k, e Value) bool { m[ToString(k)] = toJSON(e); return true })
		return m
	}
	return ToString(v)
}

// fromJSON maps decoded JSON back to script values; whole numbers become num, other
// numbers stay strings (scripts have no floats).
func fromJSON(x any) Value {
	switch t := x.(type) {
	case nil:
		return Nil{}
	case bool:
		return Bool(t)
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return Num(n)
		}
		if f, err := t.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<62 {
			return Num(int64(f))
		}
		return Str(t.String())
	case string:
		return Str(t)
	case []any:
		a := &Array{}
		for _, e := range t {
			a.List = append(a.List, fromJSON(e))
		}
		return a
	case map[string]any:
		a := &Array{Keys: map[string]Value{}}
		ks := make([]string, 0, len(t))
		for k := range t {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			a.Keys[k] = fromJSON(t[k])
		}
		return a
	}
	return Str(fmt.Sprint(x))
}

// serialize is :serialize to=json|dsv.
func serialize(v Value, to, delim string) (Value, error) {
	switch to {
	case "json":
		b, err := json.Marshal(toJSON(v))
		if err != nil {
			return nil, &Error{Msg: "cannot serialize: " + err.Error()}
		}
		return Str(b), nil
	case "dsv":
		var b strings.Builder
		w := csv.NewWriter(&b)
		if delim != "" {
			w.Comma = []rune(delim)[0]
		}
		rows, _ := v.(*Array)
		if rows == nil {
			rows = &Array{List: []Value{v}}
		}
		for _, row := range rows.List {
			var rec []string
			if ra, ok := row.(*Array); ok {
				ra.each(func(_, e Value) bool { rec = append(rec, ToString(e)); return true })
			} else {
				rec = []string{ToString(row)}
			}
			if err := w.Write(rec); err != nil {
				return nil, &Error{Msg: "cannot serialize: " + err.Error()}
			}
		}
		w.Flush()
		return Str(strings.TrimRight(b.String(), "\n")), nil
	}
	return nil, &Error{Msg: "input does not match any value of to"}
}

// deserialize is :deserialize from=json|dsv; bad input is an error, never a panic.
func deserialize(s, from, delim string) (Value, error) {
	switch from {
	case "json":
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var x any
		if err := d.Decode(&x); err != nil {
			return nil, &Error{Msg: "invalid json"}
		}
		return fromJSON(x), nil
	case "dsv":
		rd := csv.NewReader(strings.NewReader(s))
		rd.FieldsPerRecord = -1
		if delim != "" {
			rd.Comma = []rune(delim)[0]
		}
		recs, err := rd.ReadAll()
		if err != nil {
			return nil, &Error{Msg: "invalid dsv"}
		}
		a := &Array{}
		for _, rec := range recs {
			ra := &Array{}
			for _, f := range rec {
				ra.List = append(ra.List, Str(f))
			}
			a.List = append(a.List, ra)
		}
		return a, nil
	}
	return nil, &Error{Msg: "input does not match any value of from"}
}
