package certificate

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// KeyPath is /ip ipsec key: RSA keys for auth-method=rsa-key, kept by this engine
// beside the certificates (same storage: a Secret property, backups only).
const KeyPath = menu.IPsecKeyPath

// Key is one /ip ipsec key: a private key (Signer set) or a public one.
type Key struct {
	Name   string
	Signer crypto.Signer
	Public crypto.PublicKey
}

// Key returns the /ip ipsec key called name.
func (s *Store) Key(name string) (*Key, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[name]
	return k, ok
}

// parseIPsecKey reads a stored key: PKCS#8 private, else PKIX public.
func parseIPsecKey(b64s string) (*Key, error) {
	der, err := unb64(b64s)
	if err != nil || b64s == "" {
		return nil, errors.New("no key stored")
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, errors.New("stored key cannot sign")
		}
		return &Key{Signer: s, Public: s.Public()}, nil
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("stored key does not parse")
	}
	return &Key{Public: pub}, nil
}

func (e *Engine) registerKeys() {
	e.ex.Handle(KeyPath, "generate-key", control.CommandSpec{Args: []string{"key-size", "name"}}, e.generateKey)
	e.ex.Handle(KeyPath, "import", control.CommandSpec{Args: []string{"file-name", "name", "passphrase"}, Effect: true}, e.importKey)
	e.ex.Handle(KeyPath, "export-pub-key", control.CommandSpec{Args: []string{"file-name", "key"}, Effect: true}, e.exportPubKey)
}

// addKey stores a new key item.
func (e *Engine) addKey(c *control.Call, name, der string) error {
	if name == "" {
		return control.ArgError("expected name")
	}
	err := e.ex.Update(c.Sess, func(tx *store.Tx) ([]control.Change, error) {
		if _, taken := tx.ByName(KeyPath, name); taken {
			return nil, control.Failure("already have key with such name")
		}
		id, err := tx.NextID(KeyPath)
		if err != nil {
			return nil, err
		}
		return []control.Change{{Path: KeyPath, ID: id, Op: "add"}},
			tx.Put(KeyPath, store.Item{ID: id, Props: map[string]string{"name": name, "key-der": der}}, 0)
	})
	if err == nil {
		e.refresh()
	}
	return err
}

func (e *Engine) generateKey(ctx context.Context, c *control.Call) (*control.Reply, error) {
	name, _ := c.S.Get("name")
	size := 2048
	if v, ok := c.S.Get("key-size"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || (n != 1024 && n != 2048 && n != 4096) {
			return nil, control.ArgError("key-size must be 1024, 2048 or 4096")
		}
		size = n
	}
	if name == "" {
		return nil, control.ArgError("expected name")
	}
	k, err := rsa.GenerateKey(rand.Reader, size)
	if err != nil {
		return nil, control.Failure("cannot make a key: %v", err)
	}
	der, err := keyDER(k)
	if err != nil {
		return nil, err
	}
	return &control.Reply{Menu: c.Menu}, e.addKey(c, name, der)
}

// importKey reads a PEM or DER RSA key, private (PKCS#8, PKCS#1, encrypted PKCS#8
// with passphrase=) or public (PKIX, PKCS#1), from files/.
func (e *Engine) importKey(ctx context.Context, c *control.Call) (*control.Reply, error) {
	fn, _ := c.S.Get("file-name")
	file, err := cleanName(fn)
	if err != nil {
		return nil, err
	}
	name, _ := c.S.Get("name")
	if name == "" {
		name = file
	}
	pass, _ := c.S.Get("passphrase")
	r, err := e.files()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, err := r.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, control.Failure("no such file")
	}
	if err != nil {
		return nil, control.Failure("cannot read %s: %v", file, err)
	}
	data, err := readLimited(f)
	f.Close()
	if err != nil {
		return nil, e.refuse(file, "malformed", err)
	}
	var der string
	if b, err := parseBundle(data, pass); err == nil && len(b.keys) > 0 {
		if der, err = keyDER(b.keys[0]); err != nil {
			return nil, err
		}
	} else if pub, perr := parsePublic(data); perr == nil {
		d, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, err
		}
		der = b64(d)
	} else {
		return nil, e.refuse(file, "malformed", fmt.Errorf("no RSA key in the file"))
	}
	k, _ := parseIPsecKey(der)
	if _, ok := k.Public.(*rsa.PublicKey); !ok {
		return nil, e.refuse(file, "malformed", fmt.Errorf("not an RSA key"))
	}
	return &control.Reply{Menu: c.Menu}, e.addKey(c, name, der)
}

func parsePublic(data []byte) (crypto.PublicKey, error) {
	der := data
	if blk, _ := pem.Decode(data); blk != nil {
		der = blk.Bytes
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		return k, nil
	}
	return x509.ParsePKCS1PublicKey(der)
}

// exportPubKey writes the public key of key= as PEM to files/file-name, 0600.
func (e *Engine) exportPubKey(ctx context.Context, c *control.Call) (*control.Reply, error) {
	name, _ := c.S.Get("key")
	fn, _ := c.S.Get("file-name")
	file, err := cleanName(fn)
	if err != nil {
		return nil, err
	}
	var der string
	err = e.ex.View(c.Sess, func(tx *store.Tx) error {
		id, ok := tx.ByName(KeyPath, name)
		if !ok {
			return control.ArgError("no such key %s", name)
		}
		it, err := tx.Get(KeyPath, id)
		der = it.Props["key-der"]
		return err
	})
	if err != nil {
		return nil, err
	}
	k, err := parseIPsecKey(der)
	if err != nil {
		return nil, control.Failure("%v", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return nil, control.Failure("%v", err)
	}
	r, err := e.files()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if err := writeFile(r, file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})); err != nil {
		return nil, control.Failure("cannot write %s: %v", file, err)
	}
	return &control.Reply{Menu: c.Menu}, nil
}

// refreshKeys decodes /ip ipsec key into the store's keys and publishes the
// read-only fields (P private key, R rsa, key-size).
func (e *Engine) refreshKeys(items []store.Item) map[string]*Key {
	out := map[string]*Key{}
	for _, it := range items {
		k, err := parseIPsecKey(it.Props["key-der"])
		if err != nil {
			e.ex.State.Set(KeyPath, it.ID, control.ItemState{Status: err.Error()})
			continue
		}
		k.Name = it.Props["name"]
		out[k.Name] = k
		p := map[string]string{"private-key": "no", "rsa": "no"}
		if k.Signer != nil {
			p["private-key"] = "yes"
		}
		if r, ok := k.Public.(*rsa.PublicKey); ok {
			p["rsa"], p["key-size"] = "yes", strconv.Itoa(r.N.BitLen())
		}
		e.ex.State.Set(KeyPath, it.ID, control.ItemState{Props: p})
	}
	return out
}
