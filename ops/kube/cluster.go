// Package kube is the cutover's view of one Kubernetes cluster through client-go: find the
// pod that runs a component, run commands in it with streamed stdin and stdout, read and
// change workload replica counts. Every error names the cluster and namespace it came from.
package kube

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Options says how to reach one cluster.
type Options struct {
	Name       string        // cluster name from the config (e.g. prod1), used in messages
	Kubeconfig string        // path to a kubeconfig; empty means the in-cluster service account
	Context    string        // kubeconfig context; empty means the file's current context
	Namespace  string        // empty means the context's namespace (in-cluster: the pod's own)
	Timeout    time.Duration // per API call (not per exec stream); default 30s
	// PollInterval is how often Scale re-reads the workload while waiting; default 1s.
	PollInterval time.Duration
}

// Cluster is a connection to one cluster's API server, bound to one namespace.
type Cluster struct {
	name      string
	namespace string
	timeout   time.Duration
	poll      time.Duration
	rest      *rest.Config
	client    kubernetes.Interface
}

const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Connect builds a client from a kubeconfig context or the in-cluster service account. It
// does not contact the server; use Ping for that.
func Connect(opts Options) (*Cluster, error) {
	c := &Cluster{name: opts.Name, namespace: opts.Namespace, timeout: opts.Timeout, poll: opts.PollInterval}
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	if c.poll <= 0 {
		c.poll = time.Second
	}
	var err error
	failed := func(how report.ConnectHow, cause error) error {
		f := report.Connect{Cluster: opts.Name, How: how}
		switch how {
		case report.ConnectNamespaceFile:
			f.Path = inClusterNamespaceFile
		case report.ConnectKubeconfig, report.ConnectNamespace:
			f.Kubeconfig, f.Context = opts.Kubeconfig, opts.Context
		}
		return report.Fail(f, cause)
	}
	if opts.Kubeconfig == "" {
		c.rest, err = rest.InClusterConfig()
		if err != nil {
			return nil, failed(report.ConnectNotInPod, err)
		}
		if c.namespace == "" {
			b, rerr := os.ReadFile(inClusterNamespaceFile)
			if rerr != nil {
				return nil, failed(report.ConnectNamespaceFile, rerr)
			}
			c.namespace = strings.TrimSpace(string(b))
		}
	} else {
		loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: opts.Kubeconfig},
			&clientcmd.ConfigOverrides{CurrentContext: opts.Context},
		)
		c.rest, err = loader.ClientConfig()
		if err != nil {
			return nil, failed(report.ConnectKubeconfig, err)
		}
		if c.namespace == "" {
			if c.namespace, _, err = loader.Namespace(); err != nil {
				return nil, failed(report.ConnectNamespace, err)
			}
		}
	}
	// The defaults (5 QPS) would throttle a scale wait that polls while other steps run.
	c.rest.QPS, c.rest.Burst = 20, 40
	c.rest.UserAgent = "cutoverbot"
	c.client, err = kubernetes.NewForConfig(c.rest)
	if err != nil {
		return nil, failed(report.ConnectClient, err)
	}
	return c, nil
}

// Clientset is the typed client, for callers that need more than this package offers
// (the state store, leader election).
func (c *Cluster) Clientset() kubernetes.Interface { return c.client }

// Name is the cluster's name from the config.
func (c *Cluster) Name() string { return c.name }

// Namespace is the namespace the cluster's calls use.
func (c *Cluster) Namespace() string { return c.namespace }

// where is the "prod1/meshdb" prefix of messages.
func (c *Cluster) where() string { return c.name + "/" + c.namespace }

// call bounds one API call by the configured timeout.
func (c *Cluster) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// Ping asks the API server for its version, proving the address, certificate and token.
func (c *Cluster) Ping(ctx context.Context) error {
	ctx, cancel := c.call(ctx)
	defer cancel()
	body, err := c.client.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return report.Fail(report.Ping{Cluster: c.name, Host: c.rest.Host, How: report.PingCall}, explain(err))
	}
	var info version.Info
	if err := json.Unmarshal(body, &info); err != nil {
		return report.Fail(report.Ping{Cluster: c.name, Host: c.rest.Host, How: report.PingNotVersion}, err)
	}
	if info.GitVersion == "" && info.Major == "" {
		return report.Fail(report.Ping{Cluster: c.name, Host: c.rest.Host, How: report.PingNoVersion}, nil)
	}
	return nil
}

// explain adds what to check to the errors whose client-go text does not say it.
func explain(err error) error {
	switch {
	case apierrors.IsUnauthorized(err):
		return report.Fail(report.APIRefused{Code: 401}, err)
	case apierrors.IsForbidden(err):
		return report.Fail(report.APIRefused{Code: 403}, err)
	}
	return err
}

// ErrNotFound is what errors about a workload that does not exist stand for, and those
// of an exec into a pod that does not exist (any more).
var ErrNotFound = errors.New("not found")
