// Package snapshot takes the public mapdata snapshots before and after a cutover and
// diffs them by key, independent of order.
package snapshot

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Target says where to fetch from.
type Target struct {
	// ServiceURL is the public URL (https://db.nycmesh.net).
	ServiceURL string
	// LBAddress, when set, is dialled instead of the service's address while Host and
	// SNI stay the service's (the runbook's /etc/hosts trick); the certificate is not
	// verified for that request only, as curl -k does.
	LBAddress string
	// Roots verify the public fetch (system roots plus service.ca_file).
	Roots   *x509.CertPool
	Timeout time.Duration
	// Where names the target in messages ("public URL", "prod1 LB 1.2.3.4:443").
	Where string
}

// File is one fetched endpoint.
type File struct {
	Path    string `json:"path"`
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	Entries int    `json:"entries"`
}

// Snapshot is a set of fetched endpoints, stored in a directory with a manifest.
type Snapshot struct {
	Taken time.Time `json:"taken"`
	Via   string    `json:"via"`
	Dir   string    `json:"dir"`
	Files []File    `json:"files"`
}

// ErrMaintenance says the answer was the maintenance redirect, not data.
var ErrMaintenance = errors.New("maintenance mode is on")

// maintenance is the answer of the maintenance redirect to get.
func maintenance(get report.SnapshotGet, resp *http.Response) error {
	get.How, get.Location = report.SnapshotMaintenance, resp.Header.Get("Location")
	return &report.Failed{Facts: get, Sentinel: ErrMaintenance}
}

// answered is an answer to get that is no snapshot, with the start of what it said.
func answered(get report.SnapshotGet, resp *http.Response) error {
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	get.How, get.Status, get.Body = report.SnapshotStatus, resp.Status, strings.TrimSpace(string(snippet))
	return report.Fail(get, nil)
}

func (t Target) client() *http.Client {
	tr := &http.Transport{Proxy: nil, TLSHandshakeTimeout: 15 * time.Second, ResponseHeaderTimeout: t.Timeout}
	u, _ := url.Parse(t.ServiceURL)
	tr.TLSClientConfig = &tls.Config{RootCAs: t.Roots, ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	if t.LBAddress != "" {
		lb := t.LBAddress
		d := &net.Dialer{Timeout: 15 * time.Second}
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) { return d.DialContext(ctx, network, lb) }
		tr.TLSClientConfig.InsecureSkipVerify = true // this request only: the LB's certificate is not yet the service's
	}
	return &http.Client{Transport: tr, Timeout: t.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Fetch GETs every path into dir and writes dir/manifest.json.
func Fetch(ctx context.Context, t Target, paths []string, dir string) (Snapshot, error) {
	if t.Timeout == 0 {
		t.Timeout = 60 * time.Second
	}
	if t.Where == "" {
		t.Where = t.ServiceURL
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{Taken: time.Now().UTC(), Via: t.Where, Dir: dir}
	c := t.client()
	defer c.CloseIdleConnections()
	for _, p := range paths {
		f, err := fetchOne(ctx, c, t, p, dir)
		if err != nil {
			return snap, err
		}
		snap.Files = append(snap.Files, f)
	}
	raw, _ := json.MarshalIndent(snap, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), raw, 0o600); err != nil {
		return snap, err
	}
	return snap, nil
}

// FileName turns /api/v1/mapdata/nodes/ into nodes.json.
func FileName(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	return parts[len(parts)-1] + ".json"
}

func fetchOne(ctx context.Context, c *http.Client, t Target, path, dir string) (File, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(t.ServiceURL, "/")+path, nil)
	if err != nil {
		return File{}, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "cutoverbot")
	get := report.SnapshotGet{How: report.SnapshotCall, Path: path, Where: t.Where}
	resp, err := c.Do(req)
	if err != nil {
		return File{}, report.Fail(get, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), "/maintenance"):
		return File{}, maintenance(get, resp)
	case resp.StatusCode != http.StatusOK:
		return File{}, answered(get, resp)
	}
	name := FileName(path)
	out, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return File{}, err
	}
	defer out.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), resp.Body)
	if err != nil {
		get.How = report.SnapshotBody
		return File{}, report.Fail(get, err)
	}
	if err := out.Sync(); err != nil {
		return File{}, err
	}
	entries, err := countEntries(filepath.Join(dir, name))
	if err != nil {
		return File{}, report.Fail(get, err)
	}
	return File{Path: path, Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Entries: entries}, nil
}

func countEntries(file string) (int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	err = eachEntry(f, func(json.RawMessage) error { n++; return nil })
	return n, err
}

// Load reads a snapshot's manifest back.
func Load(dir string) (Snapshot, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return Snapshot{}, err
	}
	var s Snapshot
	if err := json.Unmarshal(raw, &s); err != nil {
		return Snapshot{}, fmt.Errorf("read %s/manifest.json: %w", dir, err)
	}
	s.Dir = dir
	return s, nil
}

// LoadRoots returns the system roots plus the PEM certificates in caFile.
func LoadRoots(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("service.ca_file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("service.ca_file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}
