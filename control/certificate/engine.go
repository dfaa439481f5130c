package certificate

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/big"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

// Menu paths this engine applies.
const (
	Path         = menu.CertificatePath
	CRLPath      = menu.CertificateCRLPath
	SettingsPath = menu.CertificateSettingsPath
)

// Options say where files are read and written.
type Options struct {
	// DataDir holds files/, where import reads and export-certificate writes.
	DataDir string
	// Now is the clock (tests move it); nil means time.Now.
	Now func() time.Time
	// Log receives refusals (bad imports); nil means slog.Default().
	Log *slog.Logger
}

// Engine applies /certificate: it keeps the Store other engines verify and sign with,
// and the read-only fields print shows.
type Engine struct {
	opts  Options
	ex    *control.Executor
	h     *engine.Handle
	store *Store
	log   *slog.Logger
	// refused counts imports and stored items refused, by reason.
	refused *prometheus.CounterVec

	mu    sync.Mutex // one refresh at a time
	cache map[string]*parsed
	// ram are the CRLs downloaded with crl-store=ram, by url; dlErr the last
	// download error per url (logged once per change).
	ram   map[string]*x509.RevocationList
	dlErr map[string]string
}

// parsed is a stored certificate decoded once (by its DER).
type parsed struct {
	cert *x509.Certificate
	key  crypto.Signer
	err  error
}

// New returns the certificate engine (no I/O).
func New(opts Options) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default().With("topic", "certificate")
	}
	s := newStore()
	s.now = opts.Now
	return &Engine{opts: opts, store: s, log: opts.Log, cache: map[string]*parsed{},
		ram: map[string]*x509.RevocationList{}, dlErr: map[string]string{},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "routerd_certificate_refused_total",
			Help: "Certificate files and items refused (malformed, wrong passphrase, key without certificate)."}, []string{"reason"})}
}

// Spec declares the menus.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "certificate", Menus: []string{Path, CRLPath, SettingsPath, KeyPath}}
}

// Store is the service the engine offers (also for tests that run it alone).
func (e *Engine) Store() *Store { return e.store }

// Start registers the commands and offers the Store to later engines.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	e.ex, e.h = h.Ex, h
	if h.Metrics != nil {
		if err := h.Metrics.Register(e.refused); err != nil {
			return err
		}
	}
	engine.Offer(h, e.store)
	e.register()
	e.registerKeys()
	h.Go(ctx, e.downloadLoop)
	return nil
}

// Reconcile reads the certificates, CRLs and settings into the Store and publishes
// what print shows.
func (e *Engine) Reconcile(ctx context.Context) error { return e.refresh() }

// Attach runs the engine on an executor without a host (tests and tools): commands
// registered, one refresh done.
func (e *Engine) Attach(ex *control.Executor) error {
	e.ex = ex
	e.register()
	e.registerKeys()
	for _, p := range []string{Path, CRLPath, SettingsPath, KeyPath} {
		ex.SetEngine(p, "certificate")
	}
	ex.Watch(KeyPath, func(control.Change) { e.refresh() })
	ex.Watch(Path, func(control.Change) {
		if err := e.refresh(); err != nil {
			e.log.Warn("certificate: refresh", "err", err)
		}
	})
	return e.refresh()
}

// TypedItems names the struct each menu's items decode into (engine.Typed).
func (e *Engine) TypedItems() map[string]any {
	return map[string]any{Path: template{}, CRLPath: crlItem{}, SettingsPath: settings{}, KeyPath: keyItem{}}
}

type keyItem struct {
	Name string `prop:"name"`
	DER  string `prop:"key-der"`
}

type crlItem struct {
	URL string `prop:"url"`
	DER string `prop:"crl-der"`
}

type settings struct {
	CRLUse      bool   `prop:"crl-use"`
	CRLDownload bool   `prop:"crl-download"`
	CRLStore    string `prop:"crl-store"`
}

func (e *Engine) menu(path string) *menu.Menu {
	m, _ := e.ex.Tree.Get(path)
	return m
}

// decodeCert parses a stored item's certificate and key (cached by their encoding).
func (e *Engine) decodeCert(t *template) *parsed {
	k := t.CertDER + "|" + t.KeyDER
	if p, ok := e.cache[k]; ok {
		return p
	}
	p := &parsed{}
	der, err := unb64(t.CertDER)
	if err == nil {
		p.cert, err = x509.ParseCertificate(der)
	}
	if err != nil {
		p.err = fmt.Errorf("stored certificate does not parse: %v", err)
	} else if t.KeyDER != "" {
		if p.key, err = parseKey(t.KeyDER); err != nil {
			p.err = err
		} else if !samePublic(p.key, p.cert) {
			p.err = fmt.Errorf("stored key does not belong to the certificate")
			p.key = nil
		}
	}
	e.cache[k] = p
	return p
}

// refresh is one pass: decode everything, swap the Store, publish state.
func (e *Engine) refresh() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var items, crlItems, st, keyItems []store.Item
	err := e.ex.Store.View(func(tx *store.Tx) error {
		var err error
		if items, err = tx.List(Path); err != nil {
			return err
		}
		if crlItems, err = tx.List(CRLPath); err != nil {
			return err
		}
		if keyItems, err = tx.List(KeyPath); err != nil {
			return err
		}
		st, err = tx.List(SettingsPath)
		return err
	})
	if err != nil {
		return fmt.Errorf("read certificates: %w", err)
	}
	var set settings
	if len(st) > 0 {
		_ = engine.Decode(e.menu(SettingsPath), st[0], &set)
	}
	now := e.opts.Now()
	certs := map[string]*Cert{}
	ids := map[*Cert]uint64{}
	keep := map[string]bool{}
	states := map[uint64]control.ItemState{}
	for _, it := range items {
		var t template
		if err := engine.Decode(e.menu(Path), it, &t); err != nil {
			states[it.ID] = control.ItemState{Status: err.Error()}
			continue
		}
		if t.CertDER == "" {
			states[it.ID] = control.ItemState{Status: "template: sign it to make a certificate"}
			continue
		}
		keep[t.CertDER+"|"+t.KeyDER] = true
		p := e.decodeCert(&t)
		if p.err != nil {
			states[it.ID] = control.ItemState{Status: p.err.Error()}
			if p.cert == nil {
				continue
			}
		}
		c := &Cert{Name: t.Name, X509: p.cert, Key: p.key, Trusted: t.Trusted}
		certs[t.Name] = c
		ids[c] = it.ID
	}
	for k := range e.cache {
		if !keep[k] {
			delete(e.cache, k)
		}
	}
	// CRLs: valid when a CA here signed them.
	var crls []*x509.RevocationList
	crlOf := map[*Cert]*x509.RevocationList{}
	crlStates := map[uint64]control.ItemState{}
	for _, it := range crlItems {
		var ci crlItem
		_ = engine.Decode(e.menu(CRLPath), it, &ci)
		l, err := parseCRL(ci.DER)
		if err != nil {
			crlStates[it.ID] = control.ItemState{Invalid: true, Status: err.Error()}
			continue
		}
		var issuer *Cert
		for _, c := range certs {
			if c.X509.IsCA && bytes.Equal(c.X509.RawSubject, l.RawIssuer) && l.CheckSignatureFrom(c.X509) == nil {
				issuer = c
			}
		}
		props := map[string]string{"issuer": l.Issuer.String(), "fingerprint": fingerprint(l.Raw),
			"this-update": routerosTime(l.ThisUpdate), "last-update": routerosTime(now), "revoked": serials(l)}
		if !l.NextUpdate.IsZero() {
			props["next-update"] = routerosTime(l.NextUpdate)
		}
		cs := control.ItemState{Props: props}
		if issuer == nil {
			cs.Invalid, cs.Status = true, "no CA here signed this CRL"
		} else {
			crls = append(crls, l)
			crlOf[issuer] = l
		}
		crlStates[it.ID] = cs
	}
	ramURLs := make([]string, 0, len(e.ram))
	for u := range e.ram {
		ramURLs = append(ramURLs, u)
	}
	sort.Strings(ramURLs)
	for _, u := range ramURLs {
		l := e.ram[u]
		for _, c := range certs {
			if c.X509.IsCA && bytes.Equal(c.X509.RawSubject, l.RawIssuer) && l.CheckSignatureFrom(c.X509) == nil {
				crls = append(crls, l)
				crlOf[c] = l
				break
			}
		}
	}
	for _, c := range certs {
		for _, l := range crls {
			if bytes.Equal(l.RawIssuer, c.X509.RawIssuer) {
				for _, r := range l.RevokedCertificateEntries {
					if r.SerialNumber.Cmp(c.X509.SerialNumber) == 0 {
						c.Revoked = true
					}
				}
			}
		}
	}
	keys := e.refreshKeys(keyItems)
	e.store.mu.Lock()
	keysChanged := len(keys) != len(e.store.keys)
	for n, k := range keys {
		o := e.store.keys[n]
		keysChanged = keysChanged || o == nil || o.Signer == nil != (k.Signer == nil) || !publicEqual(o.Public, k.Public)
	}
	e.store.keys = keys
	e.store.mu.Unlock()
	e.store.set(certs, crls, set.CRLUse, keysChanged)

	for _, c := range certs {
		st := states[ids[c]]
		st.Props = e.certProps(c, certs, crlOf, now)
		states[ids[c]] = st
	}
	for id, s := range states {
		e.ex.State.Set(Path, id, s)
	}
	for id, s := range crlStates {
		e.ex.State.Set(CRLPath, id, s)
	}
	return nil
}

// certProps are the read-only fields of a certificate.
func (e *Engine) certProps(c *Cert, all map[string]*Cert, crlOf map[*Cert]*x509.RevocationList, now time.Time) map[string]string {
	x := c.X509
	yn := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	typ, size := keyInfo(x.PublicKey)
	p := map[string]string{
		"issuer": x.Issuer.String(), "serial-number": strings.ToUpper(x.SerialNumber.Text(16)),
		"fingerprint": fingerprint(x.Raw), "akid": hexID(x.AuthorityKeyId), "skid": hexID(x.SubjectKeyId),
		"invalid-before": routerosTime(x.NotBefore), "invalid-after": routerosTime(x.NotAfter),
		"private-key": yn(c.Key != nil), "smart-card-key": "no", "authority": yn(x.IsCA),
		"expired": yn(now.After(x.NotAfter)), "revoked": yn(c.Revoked), "crl": yn(crlOf[c] != nil),
		"key-type": typ, "key-size": size, "subject-alt-name": altNameString(x), "key-usage": usageWords(x),
		"common-name": x.Subject.CommonName,
	}
	if d := x.NotAfter.Sub(now); d > 0 {
		p["expires-after"] = value.FormatDuration(d.Truncate(time.Second))
	}
	self := bytes.Equal(x.RawIssuer, x.RawSubject) && x.CheckSignatureFrom(x) == nil
	if !self {
		for _, o := range all {
			if o != c && o.X509.IsCA && bytes.Equal(o.X509.RawSubject, x.RawIssuer) && x.CheckSignatureFrom(o.X509) == nil {
				p["ca"], p["ca-fingerprint"] = o.Name, fingerprint(o.X509.Raw)
				p["issued"] = yn(o.Key != nil)
				if l := crlOf[o]; l != nil {
					for _, r := range l.RevokedCertificateEntries {
						if r.SerialNumber.Cmp(x.SerialNumber) == 0 {
							p["revoked-time"] = routerosTime(r.RevocationTime)
						}
					}
				}
			}
		}
	}
	if p["issued"] == "" {
		p["issued"] = "no"
	}
	return p
}

func serials(l *x509.RevocationList) string {
	var out []string
	for _, r := range l.RevokedCertificateEntries {
		out = append(out, strings.ToUpper(r.SerialNumber.Text(16)))
	}
	return strings.Join(out, ",")
}

func parseCRL(s string) (*x509.RevocationList, error) {
	der, err := unb64(s)
	if err != nil || s == "" {
		return nil, fmt.Errorf("no CRL stored")
	}
	l, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("CRL does not parse: %v", err)
	}
	return l, nil
}

// nextCRLNumber is one more than the list's number (1 for none).
func nextCRLNumber(l *x509.RevocationList) *big.Int {
	if l == nil || l.Number == nil {
		return big.NewInt(1)
	}
	return new(big.Int).Add(l.Number, big.NewInt(1))
}

func publicEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}
