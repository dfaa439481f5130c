package eventlog

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
)

// TopicsKey is the attribute that gives a record explicit /log topics ("script,info"),
// replacing the ones derived from its level. :log uses it so that a script's messages
// show under its own topics while still reaching journald through the same handler.
const TopicsKey = "topics"

// TopicKey is the attribute by which a subsystem names its /log topic ("ipsec",
// "radius", "certificate"; "system,info,account"): the record is logged under it, with
// the record's level as the second topic (ipsec,info, ipsec,error), as RouterOS logs
// them, instead of system,<level> with the topic repeated in the message.
const TopicKey = "topic"

// hidden replaces the value of attributes that may hold secrets; neither journald nor
// /log ever sees them.
const hidden = "<hidden>"

// Handler returns a slog.Handler that passes every record to next and also logs it as a
// /log entry through /system logging's rules (Buffer.Log): under "system,info",
// "system,warning", "system,error" or "system,debug", or the topics of a TopicsKey
// attribute, or TopicKey's topic with the record's level. With RouterOS's default rules
// debug entries go nowhere; a rule such as topics=ipsec,debug brings the IKE daemon's
// debug records into /log.
//
// Wrapping a handler that already feeds this buffer returns it unchanged, so a record is
// never buffered twice.
func (b *Buffer) Handler(next slog.Handler) slog.Handler {
	if h, ok := next.(*handler); ok && h.buf == b {
		return h
	}
	return &handler{buf: b, next: next}
}

type handler struct {
	buf    *Buffer
	next   slog.Handler
	prefix string   // group prefix for attributes, "a.b."
	attrs  []string // pre-rendered key=value of WithAttrs
	topic  string   // TopicKey of WithAttrs
}

// Enabled is true for everything next wants and for everything /log wants, so that
// --log-level=warn on stderr does not empty /log of info events, and debug records are
// made only while a logging rule takes them.
func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l) || h.buf.WantsDebug()
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	clean := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	var topics string
	topic := h.topic
	var kv []string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == TopicsKey && a.Value.Kind() == slog.KindString && h.prefix == "" {
			topics = a.Value.String()
			clean.AddAttrs(a)
			return true
		}
		if a.Key == TopicKey && a.Value.Kind() == slog.KindString && h.prefix == "" {
			topic = a.Value.String()
			clean.AddAttrs(a)
			return true
		}
		a = redact(a)
		clean.AddAttrs(a)
		kv = appendAttr(kv, h.prefix, a)
		return true
	})
	{
		var ts []string
		if topics != "" {
			ts = strings.Split(topics, ",")
		} else if topic != "" {
			ts = topicLevel(topic, r.Level)
		} else {
			ts = []string{"system", levelTopic(r.Level)}
		}
		msg := r.Message
		if all := append(append([]string(nil), h.attrs...), kv...); len(all) > 0 {
			msg += " " + strings.Join(all, " ")
		}
		h.buf.Log(ts, msg)
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, clean)
	}
	return nil
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	kv := append([]string(nil), h.attrs...)
	topic := h.topic
	for i, a := range as {
		clean[i] = redact(a)
		if a.Key == TopicKey && a.Value.Kind() == slog.KindString && h.prefix == "" {
			topic = a.Value.String()
			continue
		}
		kv = appendAttr(kv, h.prefix, clean[i])
	}
	return &handler{buf: h.buf, next: h.next.WithAttrs(clean), prefix: h.prefix, attrs: kv, topic: topic}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{buf: h.buf, next: h.next.WithGroup(name), prefix: h.prefix + name + ".",
		attrs: h.attrs, topic: h.topic}
}

// topicLevel is the topics of a record with a TopicKey: its first topic, the record's
// level, then its other topics; a level word in the attribute gives way to the record's.
func topicLevel(topic string, l slog.Level) []string {
	var ts []string
	for _, t := range strings.Split(topic, ",") {
		switch t = strings.TrimSpace(t); t {
		case "", "info", "warning", "error", "critical", "debug":
		default:
			ts = append(ts, t)
		}
	}
	lvl := levelTopic(l)
	if l < slog.LevelInfo {
		lvl = "debug"
	}
	if len(ts) == 0 {
		return []string{"system", lvl}
	}
	return append([]string{ts[0], lvl}, ts[1:]...)
}

func levelTopic(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l >= slog.LevelError:
		return "error"
	case l >= slog.LevelWarn:
		return "warning"
	}
	return "info"
}

// LevelOf maps RouterOS topics ("script,warning") to a slog level, for :log.
func LevelOf(topics string) slog.Level {
	lvl := slog.LevelInfo
	for _, t := range strings.Split(topics, ",") {
		switch strings.TrimSpace(t) {
		case "error", "critical":
			return slog.LevelError
		case "warning":
			lvl = slog.LevelWarn
		case "debug":
			if lvl == slog.LevelInfo {
				lvl = slog.LevelDebug
			}
		}
	}
	return lvl
}

// Secret reports whether an attribute of this name may hold a secret. Names are matched
// by their words so that "ipsec-secret", "pre-shared-key" and "Password" are caught but
// "keepalive" is not.
func Secret(name string) bool {
	words := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return r == '-' || r == '_' || r == '.' || r == ' '
	})
	for _, w := range words {
		switch w {
		case "password", "passwd", "secret", "psk", "key", "passphrase", "token":
			return true
		}
	}
	return false
}

func redact(a slog.Attr) slog.Attr {
	a.Value = a.Value.Resolve()
	if Secret(a.Key) {
		return slog.String(a.Key, hidden)
	}
	if a.Value.Kind() == slog.KindGroup {
		g := a.Value.Group()
		out := make([]slog.Attr, len(g))
		for i, x := range g {
			out[i] = redact(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	}
	return a
}

// appendAttr renders a as key=value words, flattening groups into dotted keys.
func appendAttr(kv []string, prefix string, a slog.Attr) []string {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, x := range v.Group() {
			kv = appendAttr(kv, p, redact(x))
		}
		return kv
	}
	if a.Key == "" {
		return kv
	}
	return append(kv, prefix+a.Key+"="+quote(v.String()))
}

// quote leaves plain words bare and quotes the rest, so that a value with spaces does not
// read as several attributes.
func quote(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\r\n\"=\\") {
		return strconv.Quote(s)
	}
	return s
}
