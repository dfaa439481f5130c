package certificate

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/store"
)

// register installs the commands of /certificate.
func (e *Engine) register() {
	ex := e.ex
	for _, cmd := range []string{"add", "set"} {
		gen, spec, ok := ex.Generic(Path, cmd)
		if !ok {
			continue
		}
		ex.Handle(Path, cmd, spec, e.checked(cmd, gen))
	}
	ex.Handle(Path, "sign", control.CommandSpec{Positional: []string{"numbers"},
		Args: []string{"ca", "ca-crl-host", "name", "ca-on-smart-card"}}, e.sign)
	ex.Handle(Path, "import", control.CommandSpec{Args: []string{"file-name", "passphrase", "name", "trusted"},
		Effect: true}, e.importFile)
	ex.Handle(Path, "export-certificate", control.CommandSpec{Positional: []string{"numbers"},
		Args: []string{"type", "export-passphrase", "file-name"}, Effect: true}, e.export)
	ex.Handle(Path, "issued-revoke", control.CommandSpec{Positional: []string{"numbers"}}, e.revoke)
	ex.Handle(Path, "enable-ssl-certificate", control.CommandSpec{Args: []string{"dns-name"}, Effect: true},
		func(context.Context, *control.Call) (*control.Reply, error) {
			return nil, control.Failure("%v", ErrNoACME)
		})
}

// checked validates add and set: a template's names and key parameters; on a signed
// certificate only name, trusted, ca-crl-host and comment change; stored DER given
// directly (a backup being loaded) must parse and match.
func (e *Engine) checked(cmd string, gen control.Handler) control.Handler {
	return func(ctx context.Context, c *control.Call) (*control.Reply, error) {
		args := map[string]string{}
		for _, a := range c.S.Args {
			args[a.Name] = a.Value
		}
		merge := func(base map[string]string) (*template, error) {
			props := map[string]string{}
			for k, v := range base {
				props[k] = v
			}
			for k, v := range args {
				props[k] = v
			}
			var t template
			if err := engine.Decode(c.Menu, store.Item{Props: props}, &t); err != nil {
				return nil, control.ArgError("%v", err)
			}
			return &t, nil
		}
		check := func(base map[string]string) error {
			t, err := merge(base)
			if err != nil {
				return err
			}
			if t.CertDER != "" {
				p := (&Engine{cache: map[string]*parsed{}}).decodeCert(t)
				if p.err != nil {
					return control.ArgError("%v", p.err)
				}
				return nil
			}
			if t.KeyDER != "" {
				return control.ArgError("private-key-der needs certificate-der")
			}
			if err := t.check(); err != nil {
				return control.ArgError("%v", err)
			}
			return nil
		}
		if cmd == "add" {
			if err := check(nil); err != nil {
				return nil, err
			}
			return e.after(gen(ctx, c))
		}
		ref, _ := c.S.Get("numbers")
		err := e.ex.View(c.Sess, func(tx *store.Tx) error {
			ids, err := e.ex.Resolve(tx, c.Sess, c.Menu, ref)
			if err != nil {
				return err
			}
			for _, id := range ids {
				it, err := tx.Get(Path, id)
				if err != nil {
					return err
				}
				if it.Props["certificate-der"] != "" {
					for k := range args {
						if !in(k, "numbers", ".id", "name", "trusted", "ca-crl-host", "comment") {
							return control.Failure("%s cannot change on a signed certificate", k)
						}
					}
				}
				if err := check(it.Props); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return e.after(gen(ctx, c))
	}
}

// after refreshes the published state once a command changed the store, so a print
// right after it shows the result.
func (e *Engine) after(r *control.Reply, err error) (*control.Reply, error) {
	if err == nil {
		e.refresh()
	}
	return r, err
}

// settle commits the session's batch (a script's commands share one) and refreshes, so
// the items import (and sign) reports carry their flags and fingerprint when it returns: refresh
// reads committed items only. An atomic batch (dry run) is left as it is.
func (e *Engine) settle(sess *control.Session) error {
	if err := e.ex.FlushBatch(sess); err != nil {
		return err
	}
	return e.refresh()
}

// one resolves the single item a command names.
func (e *Engine) one(tx *store.Tx, c *control.Call, arg string) (store.Item, error) {
	ref, _ := c.S.Get(arg)
	if ref == "" {
		return store.Item{}, control.ArgError("expected %s", arg)
	}
	ids, err := e.ex.Resolve(tx, c.Sess, e.menu(Path), ref)
	if err != nil {
		return store.Item{}, err
	}
	if len(ids) != 1 {
		return store.Item{}, control.ErrNoSuchItem
	}
	return tx.Get(Path, ids[0])
}

// sign turns a template into a certificate: a new key, self-signed or signed by ca=.
// The key is made outside the store transaction (RSA 4096 takes seconds).
func (e *Engine) sign(ctx context.Context, c *control.Call) (*control.Reply, error) {
	var t template
	var id uint64
	var ca *signer
	var caID uint64
	caName, _ := c.S.Get("ca")
	crlHost, _ := c.S.Get("ca-crl-host")
	newName, _ := c.S.Get("name")
	err := e.ex.View(c.Sess, func(tx *store.Tx) error {
		it, err := e.one(tx, c, "numbers")
		if err != nil {
			return err
		}
		if err := engine.Decode(c.Menu, it, &t); err != nil {
			return err
		}
		if t.CertDER != "" {
			return control.Failure("certificate is already signed")
		}
		id = it.ID
		if caName == "" {
			return nil
		}
		caID, _ = tx.ByName(Path, caName)
		cit, err := tx.Get(Path, caID)
		if err != nil || caID == 0 {
			return control.ArgError("no such CA certificate %s", caName)
		}
		var ct template
		if err := engine.Decode(c.Menu, cit, &ct); err != nil {
			return err
		}
		if ct.CertDER == "" || ct.KeyDER == "" {
			return control.Failure("CA %s has no certificate with a private key", caName)
		}
		p := (&Engine{cache: map[string]*parsed{}}).decodeCert(&ct)
		if p.err != nil {
			return control.Failure("CA %s: %v", caName, p.err)
		}
		if !p.cert.IsCA {
			return control.Failure("%s is not a CA (it has no key-cert-sign)", caName)
		}
		if e.opts.Now().After(p.cert.NotAfter) {
			return control.Failure("CA %s has expired", caName)
		}
		ca = &signer{cert: p.cert, key: p.key, crlHost: ct.CRLHost}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := t.check(); err != nil {
		return nil, control.ArgError("%v", err)
	}
	key, err := t.newKey()
	if err != nil {
		return nil, control.Failure("cannot make a key: %v", err)
	}
	cert, err := t.sign(key, ca, e.opts.Now(), crlHost)
	if err != nil {
		return nil, control.Failure("cannot sign: %v", err)
	}
	kd, err := keyDER(key)
	if err != nil {
		return nil, control.Failure("cannot encode the key: %v", err)
	}
	err = e.ex.Update(c.Sess, func(tx *store.Tx) ([]control.Change, error) {
		it, err := tx.Get(Path, id)
		if err != nil {
			return nil, err
		}
		if it.Props["certificate-der"] != "" {
			return nil, control.Failure("certificate is already signed")
		}
		if newName != "" && newName != it.Props["name"] {
			if other, ok := tx.ByName(Path, newName); ok && other != id {
				return nil, control.Failure("already have certificate with such name")
			}
			it.Props["name"] = newName
		}
		it.Props["certificate-der"] = b64(cert.Raw)
		it.Props["private-key-der"] = kd
		if ca == nil {
			if cert.IsCA {
				it.Props["trusted"] = "yes" // a CA made here is an anchor, as RouterOS marks it T
			}
			if crlHost != "" {
				it.Props["ca-crl-host"] = crlHost
			}
		}
		return []control.Change{{Path: Path, ID: id, Op: "set"}}, tx.Put(Path, it, 0)
	})
	if err != nil {
		return nil, err
	}
	if err := e.settle(c.Sess); err != nil {
		return nil, err
	}
	return &control.Reply{Menu: c.Menu, Text: "progress: done"}, nil
}

// files opens the data dir's files/ (imports and exports stay inside it).
func (e *Engine) files() (*os.Root, error) {
	dir := filepath.Join(e.opts.DataDir, "files")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, control.Failure("cannot open files directory: %v", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, control.Failure("cannot open files directory: %v", err)
	}
	return r, nil
}

func cleanName(name string) (string, error) {
	name = strings.TrimPrefix(strings.TrimSpace(name), "/")
	if name == "" || !filepath.IsLocal(name) {
		return "", control.ArgError("invalid file name")
	}
	return filepath.Clean(name), nil
}

// refuse logs and counts a refused import.
func (e *Engine) refuse(file, reason string, err error) error {
	e.refused.WithLabelValues(reason).Inc()
	e.log.Warn("certificate: import refused", "file", file, "reason", err)
	return control.Failure("%s: %v", file, err)
}

// importFile reads certificates, keys and CRLs from a file under files/.
func (e *Engine) importFile(ctx context.Context, c *control.Call) (*control.Reply, error) {
	fn, _ := c.S.Get("file-name")
	name, err := cleanName(fn)
	if err != nil {
		return nil, err
	}
	pass, _ := c.S.Get("passphrase")
	trusted := "yes"
	if v, ok := c.S.Get("trusted"); ok && v == "no" {
		trusted = "no"
	}
	base, _ := c.S.Get("name")
	r, err := e.files()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, err := r.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, control.Failure("no such file")
	}
	if err != nil {
		return nil, control.Failure("cannot read %s: %v", name, err)
	}
	data, err := readLimited(f)
	f.Close()
	if err != nil {
		return nil, e.refuse(name, "malformed", err)
	}
	b, err := parseBundle(data, pass)
	if errors.Is(err, ErrDecrypt) {
		return nil, e.refuse(name, "decryption", err)
	}
	if err != nil {
		return nil, e.refuse(name, "malformed", err)
	}
	if base == "" {
		base = name
	}
	var certsN, keysN, orphans int
	err = e.ex.Update(c.Sess, func(tx *store.Tx) ([]control.Change, error) {
		certsN, keysN, orphans = 0, 0, 0
		var chs []control.Change
		items, err := tx.List(Path)
		if err != nil {
			return nil, err
		}
		// The certificates here, to skip duplicates and give imported keys a home.
		type have struct {
			it   store.Item
			cert *x509.Certificate
		}
		var here []*have
		for _, it := range items {
			if d := it.Props["certificate-der"]; d != "" {
				if der, err := unb64(d); err == nil {
					if x, err := x509.ParseCertificate(der); err == nil {
						here = append(here, &have{it, x})
					}
				}
			}
		}
		n := 0
		for _, x := range b.certs {
			dup := false
			for _, h := range here {
				dup = dup || bytes.Equal(h.cert.Raw, x.Raw)
			}
			if dup {
				continue
			}
			cname := fmt.Sprintf("%s_%d", base, n)
			for {
				if _, taken := tx.ByName(Path, cname); !taken {
					break
				}
				n++
				cname = fmt.Sprintf("%s_%d", base, n)
			}
			n++
			id, err := tx.NextID(Path)
			if err != nil {
				return nil, err
			}
			props := map[string]string{"name": cname, "certificate-der": b64(x.Raw), "trusted": trusted,
				"common-name": x.Subject.CommonName}
			if alt := altNameString(x); alt != "" {
				props["subject-alt-name"] = alt
			}
			it := store.Item{ID: id, Props: props}
			if err := tx.Put(Path, it, 0); err != nil {
				return nil, err
			}
			here = append(here, &have{it, x})
			chs = append(chs, control.Change{Path: Path, ID: id, Op: "add"})
			certsN++
		}
		for _, k := range b.keys {
			home := false
			for _, h := range here {
				if samePublic(k, h.cert) {
					home = true
					if h.it.Props["private-key-der"] != "" {
						continue
					}
					kd, err := keyDER(k)
					if err != nil {
						return nil, err
					}
					h.it.Props["private-key-der"] = kd
					if err := tx.Put(Path, h.it, 0); err != nil {
						return nil, err
					}
					chs = append(chs, control.Change{Path: Path, ID: h.it.ID, Op: "set"})
					keysN++
				}
			}
			if !home {
				orphans++
			}
		}
		for _, l := range b.crls {
			id, err := tx.NextID(CRLPath)
			if err != nil {
				return nil, err
			}
			if err := tx.Put(CRLPath, store.Item{ID: id, Props: map[string]string{"crl-der": b64(l.Raw)}}, 0); err != nil {
				return nil, err
			}
			chs = append(chs, control.Change{Path: CRLPath, ID: id, Op: "add"})
		}
		return chs, nil
	})
	if err != nil {
		return nil, err
	}
	if orphans > 0 {
		e.refused.WithLabelValues("key-without-certificate").Add(float64(orphans))
		e.log.Warn("certificate: imported keys match no certificate", "file", name, "keys", orphans)
	}
	if b.decryptFailures > 0 {
		e.refused.WithLabelValues("decryption").Add(float64(b.decryptFailures))
		e.log.Warn("certificate: encrypted keys not opened (wrong or missing passphrase)", "file", name, "keys", b.decryptFailures)
	}
	if err := e.settle(c.Sess); err != nil {
		return nil, err
	}
	text := fmt.Sprintf("certificates-imported: %d\nprivate-keys-imported: %d\nfiles-imported: 1\ndecryption-failures: %d\nkeys-with-no-certificate: %d",
		certsN, keysN, b.decryptFailures, orphans)
	return &control.Reply{Menu: c.Menu, Text: text}, nil
}

func readLimited(f fs.File) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(&limited{f, maxImport + 1})
	if err != nil {
		return nil, err
	}
	if n > maxImport {
		return nil, fmt.Errorf("file is larger than %d bytes", maxImport)
	}
	return buf.Bytes(), nil
}

type limited struct {
	f fs.File
	n int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("file is larger than %d bytes", maxImport)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

// export writes a certificate (and with export-passphrase its key) under files/:
// type=pem cert_export_NAME.crt and .key (encrypted PKCS#8); type=pkcs12
// cert_export_NAME.p12 with the chain. A key never leaves without a passphrase, and
// only for a session with the sensitive policy.
func (e *Engine) export(ctx context.Context, c *control.Call) (*control.Reply, error) {
	typ, _ := c.S.Get("type")
	if typ == "" {
		typ = "pem"
	}
	if typ != "pem" && typ != "pkcs12" {
		return nil, control.ArgError("type must be pem or pkcs12")
	}
	pass, _ := c.S.Get("export-passphrase")
	var t template
	err := e.ex.View(c.Sess, func(tx *store.Tx) error {
		it, err := e.one(tx, c, "numbers")
		if err != nil {
			return err
		}
		return engine.Decode(c.Menu, it, &t)
	})
	if err != nil {
		return nil, err
	}
	if t.CertDER == "" {
		return nil, control.Failure("%s is a template: sign it first", t.Name)
	}
	p := (&Engine{cache: map[string]*parsed{}}).decodeCert(&t)
	if p.err != nil {
		return nil, control.Failure("%v", p.err)
	}
	withKey := p.key != nil && pass != ""
	if pass != "" && len(pass) < 8 {
		return nil, control.ArgError("export-passphrase must be at least 8 characters")
	}
	if withKey && !c.Sess.Can("sensitive") {
		return nil, control.Failure("exporting a private key needs the sensitive policy")
	}
	if typ == "pkcs12" && p.key != nil && pass == "" {
		return nil, control.Failure("a PKCS#12 export carries the private key: give export-passphrase")
	}
	base, _ := c.S.Get("file-name")
	if base == "" {
		base = "cert_export_" + t.Name
	}
	if _, err := cleanName(base); err != nil {
		return nil, err
	}
	chain := e.store.chainOf(p.cert)
	files := map[string][]byte{}
	switch typ {
	case "pem":
		files[base+".crt"] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.cert.Raw})
		if withKey {
			der, err := pkcs8.MarshalPrivateKey(p.key, []byte(pass), nil)
			if err != nil {
				return nil, control.Failure("cannot encrypt the key: %v", err)
			}
			files[base+".key"] = pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
		}
	case "pkcs12":
		var data []byte
		var err error
		if p.key != nil {
			data, err = pkcs12.Modern2023.Encode(p.key, p.cert, chain, pass)
		} else {
			data, err = pkcs12.Modern2023.EncodeTrustStore(append([]*x509.Certificate{p.cert}, chain...), pass)
		}
		if err != nil {
			return nil, control.Failure("cannot encode PKCS#12: %v", err)
		}
		files[base+".p12"] = data
	}
	r, err := e.files()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for name, data := range files {
		if err := writeFile(r, name, data); err != nil {
			return nil, control.Failure("cannot write %s: %v", name, err)
		}
	}
	return &control.Reply{Menu: c.Menu}, nil
}

// errBackupName refuses an export named like a backup.
var errBackupName = errors.New("a backup's name (.backup) is not for exports")

// writeFile replaces a file of files/ atomically, 0600 (keys, and certificates beside
// them).
func writeFile(r *os.Root, name string, data []byte) error {
	// An export never takes a backup's place (a write user's export-pub-key
	// file-name=nightly.backup replaced the admin's recovery point).
	if strings.HasSuffix(strings.ToLower(name), ".backup") {
		return errBackupName
	}
	tmp := name + ".tmp"
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.Rename(tmp, name)
	}
	if err != nil {
		r.Remove(tmp)
	}
	return err
}

// revoke is issued-revoke: the certificate's local CA reissues its CRL with it listed.
func (e *Engine) revoke(ctx context.Context, c *control.Call) (*control.Reply, error) {
	var t template
	err := e.ex.View(c.Sess, func(tx *store.Tx) error {
		it, err := e.one(tx, c, "numbers")
		if err != nil {
			return err
		}
		return engine.Decode(c.Menu, it, &t)
	})
	if err != nil {
		return nil, err
	}
	p := (&Engine{cache: map[string]*parsed{}}).decodeCert(&t)
	if t.CertDER == "" || p.cert == nil {
		return nil, control.Failure("%s is not a certificate", t.Name)
	}
	ca := e.store.issuerHere(p.cert)
	if ca == nil || ca.Key == nil {
		return nil, control.Failure("%s was not issued by a CA of this router", t.Name)
	}
	now := e.opts.Now()
	err = e.ex.Update(c.Sess, func(tx *store.Tx) ([]control.Change, error) {
		items, err := tx.List(CRLPath)
		if err != nil {
			return nil, err
		}
		var old *x509.RevocationList
		var oldID uint64
		for _, it := range items {
			if l, err := parseCRL(it.Props["crl-der"]); err == nil && bytes.Equal(l.RawIssuer, ca.X509.RawSubject) && l.CheckSignatureFrom(ca.X509) == nil {
				old, oldID = l, it.ID
			}
		}
		var entries []x509.RevocationListEntry
		if old != nil {
			for _, r := range old.RevokedCertificateEntries {
				if r.SerialNumber.Cmp(p.cert.SerialNumber) == 0 {
					return nil, control.Failure("%s is already revoked", t.Name)
				}
				entries = append(entries, x509.RevocationListEntry{SerialNumber: r.SerialNumber, RevocationTime: r.RevocationTime})
			}
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: p.cert.SerialNumber, RevocationTime: now.UTC()})
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number: nextCRLNumber(old), ThisUpdate: now.UTC(), NextUpdate: now.Add(24 * time.Hour).UTC(),
			RevokedCertificateEntries: entries,
		}, ca.X509, ca.Key)
		if err != nil {
			return nil, control.Failure("cannot sign the CRL: %v", err)
		}
		props := map[string]string{"crl-der": b64(der)}
		op := "set"
		if oldID == 0 {
			if oldID, err = tx.NextID(CRLPath); err != nil {
				return nil, err
			}
			op = "add"
		} else {
			it, _ := tx.Get(CRLPath, oldID)
			for k, v := range it.Props {
				if k != "crl-der" {
					props[k] = v
				}
			}
		}
		return []control.Change{{Path: CRLPath, ID: oldID, Op: op}}, tx.Put(CRLPath, store.Item{ID: oldID, Props: props}, 0)
	})
	if err != nil {
		return nil, err
	}
	e.refresh()
	return &control.Reply{Menu: c.Menu}, nil
}

// chainOf is the issuers here of x, the root included (a PKCS#12 export carries it).
func (s *Store) chainOf(x *x509.Certificate) []*x509.Certificate {
	return s.chain(x, true)[1:]
}

// issuerHere is the certificate here that signed x.
func (s *Store) issuerHere(x *x509.Certificate) *Cert {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, o := range s.byName {
		if o.X509.IsCA && !bytes.Equal(o.X509.Raw, x.Raw) && bytes.Equal(o.X509.RawSubject, x.RawIssuer) && x.CheckSignatureFrom(o.X509) == nil {
			return o
		}
	}
	return nil
}
