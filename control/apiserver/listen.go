package apiserver

import (
	"context"
	"strings"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/api"
	"github.com/routerd/routerd/control/menu"
)

// subscription is one running listen: the changes of one menu, queued for its
// goroutine. The queue is bounded; when it overflows the listen sends every row again
// rather than block the committing goroutine or lose a change silently.
type subscription struct {
	path     string
	ch       chan control.Change
	overflow chan struct{}
}

func (s *Server) dispatch(c control.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		if sub.path != c.Path && c.Path != "" {
			continue
		}
		select {
		case sub.ch <- c:
		default:
			select {
			case sub.overflow <- struct{}{}:
			default:
			}
		}
	}
}

// listen streams a !re for each change to the menu until the command is cancelled:
// the item's row as print shows it (with .proplist and queries applied), or
// =.id= and =.dead=yes when it was removed.
func (cn *conn) listen(ctx context.Context, req api.Request) {
	path := strings.TrimSuffix(req.Command, "/listen")
	m, ok := cn.s.ex.Tree.Get(path)
	if !ok || m.Kind == menu.Dir {
		cn.trap(req, control.CatMissing, "no such command prefix")
		return
	}
	if !cn.sess.Can("read") {
		cn.trap(req, control.CatFailure, "not enough permissions (9)")
		return
	}
	sub := &subscription{path: path, ch: make(chan control.Change, 1024), overflow: make(chan struct{}, 1)}
	cn.s.mu.Lock()
	cn.s.subs[sub] = true
	cn.s.mu.Unlock()
	defer func() {
		cn.s.mu.Lock()
		delete(cn.s.subs, sub)
		cn.s.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			if cn.wasCanceled(req) {
				cn.interrupted(req)
			}
			return
		case <-sub.overflow:
			cn.rows(ctx, req, path, "")
		case c := <-sub.ch:
			switch {
			case c.Op == "remove":
				cn.send(withTag([]string{"!re", "=.id=" + control.FormatID(c.ID), "=.dead=yes"}, req)...)
			case c.ID == 0:
				cn.rows(ctx, req, path, "")
			default:
				cn.rows(ctx, req, path, control.FormatID(c.ID))
			}
		}
	}
}

// rows sends the !re rows print gives for the listen's menu, one item or all.
func (cn *conn) rows(ctx context.Context, req api.Request, path, id string) {
	p := api.Request{Command: path + "/print", API: req.API, Queries: req.Queries}
	for _, a := range req.Attrs {
		if a.Name == ".proplist" {
			p.Attrs = append(p.Attrs, a)
		}
	}
	if id != "" {
		p.Queries = append(append([]string(nil), req.Queries...), ".id="+id)
	}
	for _, words := range api.Exec(ctx, cn.s.ex, cn.sess, p) {
		if words[0] == "!re" {
			cn.send(words...)
		}
	}
}
