package sandbox

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/dns/dnsfake"
	"github.com/nycmeshnet/cutoverbot/ops/github/githubfake"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/snapshot/meshwebfake"
)

// ServiceHost is the service's name in the sandbox: it must resolve without DNS.
const ServiceHost = "localhost"

// RestartingRequests is how many requests a cluster's LB answers 502/503 after its
// maintenance flag is turned off (the meshweb pods restarting).
const RestartingRequests = 3

// Traffic is the outside world of the second half of the runbook: GitHub with the
// three repositories and their workflows, DNS resolvers, and a meshweb behind each
// cluster's load balancer. Merging the DNS PR starts Terraform, whose run moves the
// resolvers' answers (one lags); merging the certificate PR starts the deploy whose run
// gives the destination's LB a certificate for the service host; a push to MeshDB's
// main deploys it with Helm, resetting the celery replica counts.
type Traffic struct {
	GitHub     *githubfake.Server
	Resolvers  []*dnsfake.Server
	Meshweb    map[string]*meshwebfake.Server
	CA         *meshwebfake.CA
	CAFile     string
	Token      string
	cfg        *config.Config
	origin     *Cluster
	dest       *Cluster
	kubeconfig string // for the Helm deploys of MeshDB's workflow
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
	t.GitHub.CreateRepo(g.App.Repo, g.App.Branch, map[string]string{"README.md": "# MeshDB\n"})
	var appEnvs, certEnvs []string
	for _, name := range []string{origin.Name, dest.Name} {
		appEnvs = append(appEnvs, cfg.Clusters[name].GitHubEnvironment)
		certEnvs = append(certEnvs, cfg.Clusters[name].CertsEnvironment)
	}
	// Each merge or push to these branches starts its workflow's run, as on GitHub.
	if g.App.DeployWorkflow != "" {
		t.GitHub.AddWorkflow(g.App.Repo, githubfake.Workflow{File: g.App.DeployWorkflow, Name: "Publish and Deploy", Branch: g.App.Branch,
			Environments: appEnvs, Appear: RunAppears, Queued: RunQueued, Running: RunRunning})
	}
	head := t.GitHub.Head(g.App.Repo, g.App.Branch)
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
	if g.DNS.Workflow != "" {
		t.GitHub.AddWorkflow(g.DNS.Repo, githubfake.Workflow{File: g.DNS.Workflow, Name: "SLD Terraform", Branch: g.DNS.Branch,
			Environments: []string{"prod"}, Appear: RunAppears, Queued: RunQueued, Running: RunRunning})
	}
	t.GitHub.CreateRepo(g.Certs.Repo, g.Certs.Branch, map[string]string{
		cfg.Clusters[origin.Name].TFVars: fmt.Sprintf("cluster = %q\nmeshdb_fqdn = [\n  %q,\n]\n", origin.Name, ServiceHost),
		cfg.Clusters[dest.Name].TFVars:   fmt.Sprintf("cluster = %q\nmeshdb_fqdn = [\n  %q,\n]\n", dest.Name, g.Certs.Placeholder),
	})
	if g.Certs.Workflow != "" {
		t.GitHub.AddWorkflow(g.Certs.Repo, githubfake.Workflow{File: g.Certs.Workflow, Name: "Deploy Environments", Branch: g.Certs.Branch,
			Environments: certEnvs, Appear: RunAppears, Queued: RunQueued, Running: RunRunning})
	}
	t.GitHub.OnMerge(t.merged)
	t.GitHub.OnWorkflowRun(t.ran)
	t.kubeconfig = filepath.Join(dir, "helm.kubeconfig")
	if err := WriteKubeconfig(t.kubeconfig, origin, dest); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// How the sandbox's workflow runs go: they appear a moment after the push, as on
// GitHub, and take about a second.
const (
	RunAppears = 300 * time.Millisecond
	RunQueued  = 200 * time.Millisecond
	RunRunning = 500 * time.Millisecond
)

var answerRe = regexp.MustCompile(`answer\s*=\s*"([^"]+)"`)

// merged applies a merge at once where no workflow is configured to do it.
func (t *Traffic) merged(repo string, _ githubfake.PR) {
	g := t.cfg.GitHub
	switch {
	case repo == g.DNS.Repo && g.DNS.Workflow == "":
		t.applyDNS()
	case repo == g.Certs.Repo && g.Certs.Workflow == "":
		t.applyCerts(nil)
	}
}

// ran plays the world's part as workflow runs go: Terraform applies DNS when its run
// succeeds (the second resolver a little later); the certificate deploy has certbot
// get a certificate on each LB it deployed whose list names the host; MeshDB's deploy
// (Helm) puts the replica counts back to the chart's when it starts.
func (t *Traffic) ran(repo string, run githubfake.WorkflowRun) {
	g := t.cfg.GitHub
	switch {
	case repo == g.DNS.Repo && run.File == g.DNS.Workflow && run.Conclusion == "success":
		t.applyDNS()
	case repo == g.Certs.Repo && run.File == g.Certs.Workflow && run.Conclusion == "success":
		t.applyCerts(run.Environments)
	case repo == g.App.Repo && run.File == g.App.DeployWorkflow && run.Status == "in_progress":
		go t.helmDeploy(run.Environments)
	}
}

func (t *Traffic) applyDNS() {
	g := t.cfg.GitHub
	m := answerRe.FindStringSubmatch(t.GitHub.File(g.DNS.Repo, g.DNS.Branch, g.DNS.File))
	if m == nil {
		return
	}
	t.Resolvers[0].SetCNAME(t.cfg.DNS.Name, m[1])
	go func() {
		time.Sleep(1500 * time.Millisecond)
		t.Resolvers[1].SetCNAME(t.cfg.DNS.Name, m[1])
	}()
}

// applyCerts gives a certificate for the service host to each LB deployed (envs nil:
// every LB) whose list names the host.
func (t *Traffic) applyCerts(envs []string) {
	g := t.cfg.GitHub
	for name, mw := range t.Meshweb {
		cc := t.cfg.Clusters[name]
		if envs != nil && !slices.Contains(envs, cc.CertsEnvironment) {
			continue
		}
		if strings.Contains(t.GitHub.File(g.Certs.Repo, g.Certs.Branch, cc.TFVars), `"`+ServiceHost+`"`) {
			_ = mw.UseServiceCert()
		}
	}
}

// HelmReplicas is what MeshDB's chart sets the celery StatefulSet to on every deploy.
const HelmReplicas = 1

// helmDeploy resets the celery replica count on each cluster deployed, as a Helm
// upgrade of MeshDB does, whatever the cutover had scaled it to.
func (t *Traffic) helmDeploy(envs []string) {
	for _, c := range []*Cluster{t.origin, t.dest} {
		if !slices.Contains(envs, t.cfg.Clusters[c.Name].GitHubEnvironment) {
			continue
		}
		kc, err := kube.Connect(kube.Options{Name: c.Name, Kubeconfig: t.kubeconfig, Context: c.Name, Namespace: Namespace})
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, _ = kc.Scale(ctx, kube.StatefulSet, CeleryStatefulSet, HelmReplicas, 10*time.Second, nil)
		cancel()
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
	c.GitHub.RunPollEvery = config.Duration{Duration: 200 * time.Millisecond}
	c.GitHub.RunAppearTimeout = config.Duration{Duration: 30 * time.Second}
	c.GitHub.RunTimeout = config.Duration{Duration: 2 * time.Minute}
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
