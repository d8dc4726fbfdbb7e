// Package sandbox assembles simulated MeshDB clusters on one machine: each is a local
// Kubernetes API (kubefake) whose pods run their commands against a real throwaway
// PostgreSQL server of its own. Tests and `cutoverbot demo` use it; nothing here is
// reached by `serve`.
package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/nycmeshnet/cutoverbot/ops/kube/kubefake"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/pg/pgserver"
)

// The MeshDB shape the sandbox simulates: the names of MeshDB's Helm release in its
// namespace (celery StatefulSet, meshweb and postgres Deployments and their containers).
const (
	Namespace         = "meshdb"
	CeleryStatefulSet = "meshdb-celery-worker"
	MeshwebDeployment = "meshdb-meshweb"
	PostgresDeploy    = "meshdb-postgres"
	MeshwebContainer  = "meshdb-meshweb"
	PostgresContainer = "meshdb-postgres"
	DBName            = "meshdb"
	DBUser            = "meshdb"
	MeshwebImage      = "docker.io/willnilges/meshdb@sha256:7c1f0d5e9a3b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d"
)

// The labels of MeshDB's Helm chart: every workload selects SelectorLabels; their pods are
// told apart by the app label.
var (
	SelectorLabels = map[string]string{"app.kubernetes.io/name": "meshdb", "app.kubernetes.io/instance": "meshdb"}
	MeshwebLabels  = with(SelectorLabels, "app", "meshdb-meshweb-app")
	PostgresLabels = with(SelectorLabels, "app", "meshdb-postgres-app")
	CeleryLabels   = with(SelectorLabels, "app", "meshdb-celery-worker-app")
)

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range m {
		out[a] = b
	}
	return out
}

// Cluster is one simulated cluster.
type Cluster struct {
	Name string
	PG   *pgserver.Server
	Kube *kubefake.Server // the simulated API server, or nil when API is set
	// API is a Kubernetes API started outside this package (NewClusterOn), or nil.
	API *API
	dir string

	hookMu sync.Mutex
	hook   func(ctx context.Context, container string, argv []string) error
	onFlag func(on bool)
}

// OnMaintenanceFlag calls fn after a meshweb pod's manage.py sets MAINTENANCE_MODE.
func (c *Cluster) OnMaintenanceFlag(fn func(on bool)) {
	c.hookMu.Lock()
	defer c.hookMu.Unlock()
	c.onFlag = fn
}

// SetExecHook runs fn before every pod command; an error from it fails the command
// (as if the pod died), and a slow fn makes the command slow: tests use it to hold a
// step while it runs. fn's ctx ends when the command's client goes away (the stream is
// cut); the command itself goes on, as on a real node, unless fn fails it.
func (c *Cluster) SetExecHook(fn func(ctx context.Context, container string, argv []string) error) {
	c.hookMu.Lock()
	defer c.hookMu.Unlock()
	c.hook = fn
}

// Options shape a cluster.
type Options struct {
	// Installs seeds that many installs (and the rest of the MeshDB shape); 0 leaves
	// the database with the schema only.
	Installs int
	// ScaleDelay is how long status.replicas lags behind spec.replicas.
	ScaleDelay time.Duration
}

// NewCluster starts a cluster's PostgreSQL and Kubernetes API under dir.
func NewCluster(ctx context.Context, name, dir string, opts Options) (*Cluster, error) {
	c, err := newDatabase(ctx, name, dir, opts)
	if err != nil {
		return nil, err
	}
	if c.Kube, err = kubefake.Start(kubefake.Options{ScaleDelay: opts.ScaleDelay}); err != nil {
		c.Close()
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	now := time.Now()
	c.Kube.AddStatefulSet(Namespace, CeleryStatefulSet, 1, CeleryLabels)
	c.Kube.AddDeployment(Namespace, MeshwebDeployment, 2, MeshwebLabels)
	c.Kube.AddDeployment(Namespace, PostgresDeploy, 1, PostgresLabels)
	c.Kube.AddPod(Namespace, "meshdb-meshweb-7d9f8-abcde", MeshwebLabels, map[string]string{MeshwebContainer: MeshwebImage}, true, now.Add(-2*time.Hour))
	c.Kube.AddPod(Namespace, "meshdb-meshweb-7d9f8-fghij", MeshwebLabels, map[string]string{MeshwebContainer: MeshwebImage}, true, now.Add(-time.Hour))
	c.Kube.AddPod(Namespace, "meshdb-postgres-5c6b7-klmno", PostgresLabels, map[string]string{PostgresContainer: "docker.io/library/postgres@sha256:15"}, true, now.Add(-24*time.Hour))
	c.Kube.AddPod(Namespace, "meshdb-celery-worker-0", CeleryLabels, map[string]string{"celery-worker": MeshwebImage, "celery-beat": MeshwebImage}, true, now.Add(-time.Hour))
	c.Kube.SetExecHandler(c.exec)
	return c, nil
}

// API is a cluster's Kubernetes API started outside this package (a real control plane),
// and how the bot reaches it.
type API struct {
	URL   string
	CAPEM []byte
	Token string // the bot's
	// SetPodsReady sets the readiness the pods of a selector report.
	SetPodsReady func(ctx context.Context, selector string, ready bool) error
	Close        func()
}

// PodCommand is a command exec'd in one of the cluster's pods. Disconnected is closed when
// its client goes away (the command goes on, as on a real node).
type PodCommand struct {
	Container      string
	Argv           []string
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Disconnected   <-chan struct{}
}

// PodRunner runs a command exec'd in a pod (Cluster.RunInPod).
type PodRunner func(ctx context.Context, cmd PodCommand) (int, error)

// NewClusterOn starts a cluster's PostgreSQL under dir, then its Kubernetes API with start,
// which is given the function its pods' commands must run (sandbox/realcluster).
func NewClusterOn(ctx context.Context, name, dir string, opts Options, start func(ctx context.Context, run PodRunner) (*API, error)) (*Cluster, error) {
	c, err := newDatabase(ctx, name, dir, opts)
	if err != nil {
		return nil, err
	}
	if c.API, err = start(ctx, c.RunInPod); err != nil {
		c.Close()
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	return c, nil
}

// newDatabase starts the cluster's PostgreSQL with MeshDB's schema, seeded.
func newDatabase(ctx context.Context, name, dir string, opts Options) (*Cluster, error) {
	c := &Cluster{Name: name, dir: dir}
	var err error
	if c.PG, err = pgserver.Start(ctx, filepath.Join(dir, "pg")); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	if err := c.PG.CreateMeshDB(ctx, DBName, DBUser); err != nil {
		c.Close()
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	if opts.Installs > 0 {
		if err := c.PG.Seed(ctx, DBName, DBUser, opts.Installs); err != nil {
			c.Close()
			return nil, fmt.Errorf("cluster %s: seed: %w", name, err)
		}
	}
	return c, nil
}

// Close stops the cluster's servers.
func (c *Cluster) Close() {
	if c.Kube != nil {
		c.Kube.Close()
	}
	if c.API != nil && c.API.Close != nil {
		c.API.Close()
	}
	if c.PG != nil {
		c.PG.Stop()
	}
}

// exec runs a pod command of the simulated API server.
func (c *Cluster) exec(ctx context.Context, req kubefake.ExecRequest) (int, error) {
	return c.RunInPod(ctx, PodCommand{Container: req.Container, Argv: req.Command, Stdin: req.Stdin,
		Stdout: req.Stdout, Stderr: req.Stderr, Disconnected: req.Disconnected})
}

// RunInPod runs a pod command: postgres pods run it against this cluster's database;
// meshweb pods understand manage.py's enable_flag and disable_flag.
func (c *Cluster) RunInPod(ctx context.Context, req PodCommand) (int, error) {
	c.hookMu.Lock()
	hook := c.hook
	c.hookMu.Unlock()
	if hook != nil {
		stream, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-req.Disconnected:
				cancel()
			case <-stream.Done():
			}
		}()
		argv := req.Argv
		if inner, _, _, ok := pg.Untracked(argv); ok {
			argv = inner // hooks see the command the bot tracks, not its wrapper
		}
		err := hook(stream, req.Container, argv)
		cancel()
		if err != nil {
			fmt.Fprintln(req.Stderr, err)
			return 137, nil
		}
	}
	switch req.Container {
	case PostgresContainer:
		return c.PG.Run(ctx, req.Argv, req.Stdin, req.Stdout, req.Stderr)
	case MeshwebContainer:
		return c.manage(ctx, req.Argv, req.Stdout, req.Stderr)
	}
	fmt.Fprintf(req.Stderr, "container %q has no shell in the sandbox\n", req.Container)
	return 126, nil
}

func (c *Cluster) manage(ctx context.Context, argv []string, stdout, stderr io.Writer) (int, error) {
	if len(argv) != 4 || argv[0] != "python" || argv[1] != "manage.py" {
		fmt.Fprintf(stderr, "sandbox meshweb runs only `python manage.py enable_flag|disable_flag NAME`, not %q\n", strings.Join(argv, " "))
		return 127, nil
	}
	verb, flag := argv[2], argv[3]
	var on bool
	switch verb {
	case "enable_flag":
		on = true
	case "disable_flag":
	default:
		fmt.Fprintf(stderr, "Unknown command: %q\n", verb)
		return 1, nil
	}
	if flag != "MAINTENANCE_MODE" {
		fmt.Fprintf(stderr, "CommandError: flag %s does not exist\n", flag)
		return 1, nil
	}
	var errb bytes.Buffer
	code, err := c.PG.Run(ctx, pg.PsqlArgv(pg.DB{Name: DBName, User: DBUser}, pg.MaintenanceSetSQL(on)), nil, io.Discard, &errb)
	if err != nil || code != 0 {
		fmt.Fprintf(stderr, "django.db.utils.OperationalError: %s\n", errb.String())
		return 1, err
	}
	c.hookMu.Lock()
	onFlag := c.onFlag
	c.hookMu.Unlock()
	if onFlag != nil {
		onFlag(on)
	}
	word := "disabled"
	if on {
		word = "enabled"
	}
	fmt.Fprintf(stdout, "Successfully %s %s\n", word, flag)
	return 0, nil
}

// SetMeshwebReady marks every meshweb pod ready or not.
func (c *Cluster) SetMeshwebReady(ready bool) {
	if c.API != nil {
		if err := c.API.SetPodsReady(context.Background(), "app=meshdb-meshweb-app", ready); err != nil {
			panic(fmt.Sprintf("sandbox: %v", err)) // a test helper whose API server refused its admin
		}
		return
	}
	for _, p := range []string{"meshdb-meshweb-7d9f8-abcde", "meshdb-meshweb-7d9f8-fghij"} {
		c.Kube.SetPodReady(Namespace, p, ready)
	}
}

// WriteKubeconfig writes one kubeconfig with a context per cluster, named after it. Where
// the cluster's API is not kubefake, the context's identity is the bot's (API.Token).
func WriteKubeconfig(path string, clusters ...*Cluster) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if len(clusters) == 0 {
		return fmt.Errorf("sandbox: write kubeconfig %s: no clusters", path)
	}
	cfg := clientcmdapi.NewConfig()
	for _, c := range clusters {
		api := API{}
		if c.API != nil {
			api = *c.API
		} else {
			api = API{URL: c.Kube.URL(), CAPEM: c.Kube.CAPEM(), Token: c.Kube.Token()}
		}
		cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: api.URL, CertificateAuthorityData: api.CAPEM}
		cfg.AuthInfos[c.Name] = &clientcmdapi.AuthInfo{Token: api.Token}
		cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.Name, Namespace: "default"}
		if cfg.CurrentContext == "" || c.Name < cfg.CurrentContext {
			cfg.CurrentContext = c.Name
		}
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("sandbox: write kubeconfig %s: %w", path, err)
	}
	return nil
}

// Execer runs commands against this cluster's database directly, as if in its postgres
// pod but without Kubernetes: for checks made outside the bot.
func (c *Cluster) Execer() pg.Execer {
	return pg.ExecFunc(func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
		code, err := c.PG.Run(ctx, argv, stdin, stdout, stderr)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("%s exited %d", strings.Join(argv, " "), code)
		}
		return nil
	})
}
