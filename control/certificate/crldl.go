package certificate

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/store"
)

// crlPeriod is how often crl-download=yes fetches the distribution points.
const crlPeriod = time.Minute

// downloadLoop fetches CRLs every crlPeriod while crl-download=yes.
func (e *Engine) downloadLoop(ctx context.Context) {
	t := time.NewTicker(crlPeriod)
	defer t.Stop()
	for {
		e.DownloadCRLs(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DownloadCRLs fetches the CRL of every http distribution point the certificates here
// name, when /certificate settings crl-download=yes. A list a CA here signed is kept:
// in memory with crl-store=ram, as a /certificate crl item (url=) with crl-store=system.
// Unreachable points and lists no CA here signed are logged (once per change) and
// counted; they change nothing.
func (e *Engine) DownloadCRLs(ctx context.Context) {
	var set settings
	var urls []string
	err := e.ex.Store.View(func(tx *store.Tx) error {
		st, err := tx.List(SettingsPath)
		if err != nil {
			return err
		}
		if len(st) > 0 {
			_ = engine.Decode(e.menu(SettingsPath), st[0], &set)
		}
		return nil
	})
	if err != nil || !set.CRLDownload {
		return
	}
	seen := map[string]bool{}
	e.store.mu.RLock()
	for _, c := range e.store.byName {
		for _, u := range c.X509.CRLDistributionPoints {
			if strings.HasPrefix(u, "http://") && !seen[u] {
				seen[u] = true
				urls = append(urls, u)
			}
		}
	}
	e.store.mu.RUnlock()
	sort.Strings(urls)
	for _, u := range urls {
		l, err := e.fetchCRL(ctx, u)
		e.mu.Lock()
		last := e.dlErr[u]
		if err != nil {
			e.dlErr[u] = err.Error()
		} else {
			delete(e.dlErr, u)
		}
		e.mu.Unlock()
		if err != nil {
			if last != err.Error() {
				e.refused.WithLabelValues("crl-download").Inc()
				e.log.Warn("certificate: CRL not downloaded", "url", u, "reason", err)
			}
			continue
		}
		if set.CRLStore == "system" {
			e.storeCRL(u, l)
		} else {
			e.mu.Lock()
			e.ram[u] = l
			e.mu.Unlock()
		}
	}
	e.refresh()
}

// fetchCRL downloads and checks one list: it must parse and be signed by a CA here.
func (e *Engine) fetchCRL(ctx context.Context, u string) (*x509.RevocationList, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxImport+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxImport {
		return nil, fmt.Errorf("CRL larger than %d bytes", maxImport)
	}
	l, err := x509.ParseRevocationList(body)
	if err != nil {
		return nil, fmt.Errorf("CRL does not parse: %v", err)
	}
	e.store.mu.RLock()
	defer e.store.mu.RUnlock()
	for _, c := range e.store.byName {
		if c.X509.IsCA && bytes.Equal(c.X509.RawSubject, l.RawIssuer) && l.CheckSignatureFrom(c.X509) == nil {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no CA here signed the CRL of %s", l.Issuer)
}

// storeCRL keeps a downloaded list as the /certificate crl item of its url.
func (e *Engine) storeCRL(u string, l *x509.RevocationList) {
	err := e.ex.Update(nil, func(tx *store.Tx) ([]control.Change, error) {
		items, err := tx.List(CRLPath)
		if err != nil {
			return nil, err
		}
		it := store.Item{Props: map[string]string{}}
		op := "add"
		for _, x := range items {
			if x.Props["url"] == u {
				it, op = x, "set"
			}
		}
		if it.Props["crl-der"] == b64(l.Raw) {
			return nil, nil
		}
		if it.ID == 0 {
			if it.ID, err = tx.NextID(CRLPath); err != nil {
				return nil, err
			}
		}
		it.Props["url"], it.Props["crl-der"] = u, b64(l.Raw)
		return []control.Change{{Path: CRLPath, ID: it.ID, Op: op}}, tx.Put(CRLPath, it, 0)
	})
	if err != nil {
		e.log.Warn("certificate: downloaded CRL not stored", "url", u, "err", err)
	}
}
