package sandbox

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/dns/dnsfake"
	"github.com/nycmeshnet/cutoverbot/ops/github/githubfake"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/snapshot/meshwebfake"
)

// ServiceHost is the service's name in the sandbox: it must resolve without DNS.
const ServiceHost = "localhost"

// RestartingRequests is how many requests a cluster's LB answers 502/503 after its
// maintenance flag is turned off (the meshweb pods restarting).
const RestartingRequests = 3

// Traffic is the outside world of the second half of the runbook: GitHub with the
// three repositories, DNS resolvers, and a meshweb behind each cluster's load balancer.
// Merging the DNS PR moves the resolvers' answers (one lags), merging the certificate
// PR gives the destination's LB a certificate for the service host.
type Traffic struct {
	GitHub    *githubfake.Server
	Resolvers []*dnsfake.Server
	Meshweb   map[string]*meshwebfake.Server
	CA        *meshwebfake.CA
	CAFile    string
	Token     string
	cfg       *config.Config
	origin    *Cluster
	dest      *Cluster
}

// StartTraffic builds the outside world for origin -> dest, with DNS pointing at the
// origin's LB name (as configured in cfg's clusters).
func StartTraffic(dir string, cfg *config.Config, origin, dest *Cluster, token string) (*Traffic, error) {
	t := &Traffic{Meshweb: map[string]*meshwebfake.Server{}, Token: token, cfg: cfg, origin: origin, dest: dest}
	var err error
	if t.CA, err = meshwebfake.NewCA("cutoverbot sandbox CA"); err != nil {
		return nil, err
	}
	t.CAFile = filepath.Join(dir, "sandbox-ca.pem")
	if err := os.WriteFile(t.CAFile, t.CA.PEM(), 0o600); err != nil {
		return nil, err
	}
	for _, c := range []*Cluster{origin, dest} {
		c := c
		db := pg.DB{Name: DBName, User: DBUser}
		mw, err := meshwebfake.Start(meshwebfake.Options{ServiceHost: ServiceHost, CA: t.CA, OtherNames: []string{cfg.Clusters[c.Name].LBHostname},
			Data: func(ctx context.Context, kind string) ([]byte, error) { return c.PG.MapdataJSON(ctx, DBName, kind) },
			Maintenance: func(ctx context.Context) (bool, error) {
				return pg.MaintenanceState(ctx, c.Execer(), db)
			}})
		if err != nil {
			t.Close()
			return nil, err
		}
		t.Meshweb[c.Name] = mw
		// Maintenance mode fails meshweb's probes, so its pods restart meanwhile: once the
		// flag is off, the LB answers 502/503 until they are back.
		c.OnMaintenanceFlag(func(on bool) {
			if !on {
				mw.Restarting(RestartingRequests)
			}
		})
	}
	if err := t.Meshweb[origin.Name].UseServiceCert(); err != nil { // the origin is live
		t.Close()
		return nil, err
	}
	for i := 0; i < 2; i++ {
		r, err := dnsfake.Start()
		if err != nil {
			t.Close()
			return nil, err
		}
		r.SetCNAME(cfg.DNS.Name, cfg.Clusters[origin.Name].LBHostname)
		t.Resolvers = append(t.Resolvers, r)
	}
	if t.GitHub, err = githubfake.Start(token); err != nil {
		t.Close()
		return nil, err
	}
	g := cfg.GitHub
	head := t.GitHub.CreateRepo(g.App.Repo, g.App.Branch, map[string]string{"README.md": "# MeshDB\n"})
	for _, c := range cfg.Clusters {
		t.GitHub.AddDeployment(g.App.Repo, c.GitHubEnvironment, head, "success")
	}
	t.GitHub.AddWorkflowRun(g.App.Repo, g.App.DeployWorkflow, "completed")
	t.GitHub.CreateRepo(g.DNS.Repo, g.DNS.Branch, map[string]string{g.DNS.File: fmt.Sprintf(`# nycmesh.net records (sandbox copy)
resource "namedotcom_record" "%s" {
  domain_name = "nycmesh.net"
  host        = "db"
  record_type = "CNAME"
  answer      = "%s"
}

resource "namedotcom_record" "wiki" {
  domain_name = "nycmesh.net"
  host        = "wiki"
  record_type = "CNAME"
  answer      = "%s"
}
`, g.DNS.Resource, cfg.Clusters[origin.Name].LBHostname, cfg.Clusters[origin.Name].LBHostname)})
	t.GitHub.CreateRepo(g.Certs.Repo, g.Certs.Branch, map[string]string{
		cfg.Clusters[origin.Name].TFVars: fmt.Sprintf("cluster = %q\nmeshdb_fqdn = [\n  %q,\n]\n", origin.Name, ServiceHost),
		cfg.Clusters[dest.Name].TFVars:   fmt.Sprintf("cluster = %q\nmeshdb_fqdn = [\n  %q,\n]\n", dest.Name, g.Certs.Placeholder),
	})
	t.GitHub.OnMerge(t.merged)
	return t, nil
}

var answerRe = regexp.MustCompile(`answer\s*=\s*"([^"]+)"`)

// merged plays the world's part after a merge: Terraform applies DNS (the second
// resolver a little later), certbot gets a certificate once the name is in the list.
func (t *Traffic) merged(repo string, _ githubfake.PR) {
	g := t.cfg.GitHub
	switch repo {
	case g.DNS.Repo:
		m := answerRe.FindStringSubmatch(t.GitHub.File(repo, g.DNS.Branch, g.DNS.File))
		if m == nil {
			return
		}
		t.Resolvers[0].SetCNAME(t.cfg.DNS.Name, m[1])
		go func() {
			time.Sleep(1500 * time.Millisecond)
			t.Resolvers[1].SetCNAME(t.cfg.DNS.Name, m[1])
		}()
	case g.Certs.Repo:
		for name, mw := range t.Meshweb {
			if strings.Contains(t.GitHub.File(repo, g.Certs.Branch, t.cfg.Clusters[name].TFVars), `"`+ServiceHost+`"`) {
				_ = mw.UseServiceCert()
			}
		}
	}
}

// Configure points a configuration at this world.
func (t *Traffic) Configure(c *config.Config) {
	_, port, _ := net.SplitHostPort(t.Meshweb[t.origin.Name].Addr())
	c.Service.URL = "https://" + ServiceHost + ":" + port
	c.Service.CAFile = t.CAFile
	c.GitHub.APIURL = t.GitHub.URL()
	c.DNS.Resolvers = nil
	for _, r := range t.Resolvers {
		c.DNS.Resolvers = append(c.DNS.Resolvers, r.Addr())
	}
	c.DNS.PollEvery = config.Duration{Duration: time.Second}
	c.DNS.Timeout = config.Duration{Duration: 2 * time.Minute}
	c.Service.ReadyPollEvery = config.Duration{Duration: 200 * time.Millisecond}
	c.Service.ReadyTimeout = config.Duration{Duration: time.Minute}
	c.TLS.PollEvery = config.Duration{Duration: time.Second}
	c.TLS.Timeout = config.Duration{Duration: 2 * time.Minute}
	for name, mw := range t.Meshweb {
		cc := c.Clusters[name]
		cc.LBAddress = mw.Addr()
		c.Clusters[name] = cc
	}
}

// Close stops every server.
func (t *Traffic) Close() {
	for _, mw := range t.Meshweb {
		mw.Close()
	}
	for _, r := range t.Resolvers {
		r.Close()
	}
	if t.GitHub != nil {
		t.GitHub.Close()
	}
}
