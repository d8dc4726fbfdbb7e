// Package realkube runs a real Kubernetes control plane on this machine for tests: etcd,
// kube-apiserver and kube-controller-manager built from their Go modules
// (scripts/kube-binaries.sh), kwok to make one node and its pods Running and Ready, and on
// that node's kubelet port an exec endpoint of our own, built on the kubelet's streaming
// library, that runs pod commands on this machine. The API server's own exec proxy
// (WebSocket v5 translated to SPDY, and SPDY) is on the path, and a command outlives the
// client that started it, as on a real node.
package realkube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// NodeName is the one node of every cluster; pods name it in spec.nodeName (there is no
// scheduler).
const NodeName = "node-1"

// Options shape a cluster.
type Options struct {
	// Dir holds the cluster's data, certificates and logs; it must exist.
	Dir string
	// Exec runs the commands exec'd in pods. Nil makes every command exit 126.
	Exec ExecFunc
	// AdmissionConfig, if set, is written as the API server's --admission-control-config-file
	// (for example Pod Security defaults).
	AdmissionConfig string
}

// Cluster is one running control plane with its node.
type Cluster struct {
	bins       Bins
	dir        string
	pki        *pki
	url        string
	adminToken string
	procs      []*proc
	kubelet    *kubelet

	// Admin is a client with cluster-admin rights (group system:masters).
	Admin     kubernetes.Interface
	adminREST *rest.Config

	closeOnce sync.Once
}

// Start runs etcd, the API server, the controllers, kwok and the exec endpoint, registers
// the node and waits until it is Ready. Close stops everything.
func Start(ctx context.Context, bins Bins, opts Options) (c *Cluster, err error) {
	if opts.Dir == "" {
		return nil, errors.New("realkube: Options.Dir is required")
	}
	c = &Cluster{bins: bins, dir: opts.Dir}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	etcdPort, peerPort, apiPort, kubeletPort := ports[0], ports[1], ports[2], ports[3]
	c.url = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	if c.pki, err = c.makePKI(); err != nil {
		return nil, fmt.Errorf("realkube: certificates: %w", err)
	}
	c.adminToken = randomToken()
	tokens := fmt.Sprintf("%s,admin,admin-uid,\"system:masters\"\n", c.adminToken)
	if err := os.WriteFile(filepath.Join(c.dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return nil, err
	}

	if err := c.startEtcd(ctx, etcdPort, peerPort); err != nil {
		return nil, err
	}
	if err := c.startAPIServer(ctx, apiPort, etcdPort, opts.AdmissionConfig); err != nil {
		return nil, err
	}
	adminKubeconfig := filepath.Join(c.dir, "admin.kubeconfig")
	if err := c.WriteKubeconfig(adminKubeconfig, "admin", c.adminToken, ""); err != nil {
		return nil, err
	}
	kcm, err := startProc(c.dir, "kube-controller-manager", bins.ControllerManager,
		"--kubeconfig="+adminKubeconfig,
		"--controllers=deployment-controller,replicaset-controller,statefulset-controller,serviceaccount-controller,garbage-collector-controller",
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--concurrent-deployment-syncs=2", "--concurrent-replicaset-syncs=2", "--concurrent-statefulset-syncs=2",
	)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, kcm)

	if c.kubelet, err = startKubelet(c, kubeletPort, opts.Exec); err != nil {
		return nil, err
	}
	if err := c.registerNode(ctx, kubeletPort); err != nil {
		return nil, err
	}
	if err := c.startKwok(adminKubeconfig); err != nil {
		return nil, err
	}
	if err := c.waitNodeReady(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) makePKI() (*pki, error) {
	p, err := newPKI(filepath.Join(c.dir, "pki"))
	if err != nil {
		return nil, err
	}
	// 10.0.0.1 is the first address of the service range: the in-cluster "kubernetes" service.
	apiIPs := append(append([]net.IP{}, loopback...), net.IPv4(10, 0, 0, 1))
	if err := p.issue("apiserver", "kube-apiserver", nil, true, apiIPs,
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}); err != nil {
		return nil, err
	}
	if err := p.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, false, nil, nil); err != nil {
		return nil, err
	}
	if err := p.issue("kubelet", NodeName, nil, true, loopback, []string{NodeName}); err != nil {
		return nil, err
	}
	return p, p.serviceAccountKeys()
}

func (c *Cluster) startEtcd(ctx context.Context, port, peer int) error {
	client := "http://127.0.0.1:" + strconv.Itoa(port)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
	p, err := startProc(c.dir, "etcd", c.bins.Etcd,
		"--name=default",
		"--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync", // throwaway data: fsync only slows the tests
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return c.waitFor(ctx, p, "etcd to answer /health", 60*time.Second, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, client+"/health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

func (c *Cluster) startAPIServer(ctx context.Context, port, etcdPort int, admission string) error {
	args := []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(etcdPort),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + c.pki.path("apiserver.crt"), "--tls-private-key-file=" + c.pki.path("apiserver.key"),
		"--client-ca-file=" + c.pki.path("ca.crt"),
		"--token-auth-file=" + filepath.Join(c.dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + c.pki.path("sa.pub"),
		"--service-account-signing-key-file=" + c.pki.path("sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		// On 127.0.0.1 the endpoint reconciler refuses the loopback address.
		"--endpoint-reconciler-type=none",
		"--kubelet-client-certificate=" + c.pki.path("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + c.pki.path("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + c.pki.path("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
		"--v=1",
	}
	if admission != "" {
		path := filepath.Join(c.dir, "admission.yaml")
		if err := os.WriteFile(path, []byte(admission), 0o600); err != nil {
			return err
		}
		args = append(args, "--admission-control-config-file="+path)
	}
	p, err := startProc(c.dir, "kube-apiserver", c.bins.APIServer, args...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	c.adminREST = c.RESTConfig(c.adminToken)
	if c.Admin, err = kubernetes.NewForConfig(c.adminREST); err != nil {
		return err
	}
	return c.waitFor(ctx, p, "kube-apiserver /readyz", 120*time.Second, func(ctx context.Context) (bool, error) {
		body, err := c.Admin.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && strings.TrimSpace(string(body)) == "ok", nil
	})
}

func (c *Cluster) startKwok(kubeconfig string) error {
	stages, err := kwokStages(c.bins.KwokStages, filepath.Join(c.dir, "kwok"))
	if err != nil {
		return err
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
		"--cidr=10.244.0.0/16",
		"--node-ip=127.0.0.1",
	}
	for _, s := range stages {
		args = append(args, "--config="+s)
	}
	p, err := startProc(c.dir, "kwok", c.bins.Kwok, args...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// registerNode creates the Node as a kubelet registers itself: its address and the port of
// its kubelet endpoint (ours) in the status; kwok then reports it Ready.
func (c *Cluster) registerNode(ctx context.Context, kubeletPort int) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Labels:      map[string]string{"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux", "type": "kwok"},
			Annotations: map[string]string{kwokNodeAnnotation: "fake"},
		},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
				{Type: corev1.NodeHostName, Address: NodeName},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(kubeletPort)}},
		},
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.Admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("realkube: register node: %w", err)
	}
	return nil
}

func (c *Cluster) waitNodeReady(ctx context.Context) error {
	return c.waitFor(ctx, nil, "node "+NodeName+" to be Ready (kwok)", 60*time.Second, func(ctx context.Context) (bool, error) {
		n, err := c.Admin.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}

// waitFor polls cond until it holds, failing early with the program's log if it exits.
func (c *Cluster) waitFor(ctx context.Context, p *proc, what string, timeout time.Duration, cond wait.ConditionWithContextFunc) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for _, q := range c.procs {
			if done, err := q.exited(); done {
				return false, err
			}
		}
		return cond(ctx)
	})
	if err != nil && p != nil {
		return fmt.Errorf("realkube: waiting for %s: %w\n%s log:\n%s", what, err, p.name, p.logTail())
	}
	if err != nil {
		return fmt.Errorf("realkube: waiting for %s: %w", what, err)
	}
	return nil
}

// Close stops the programs (newest first) and the exec endpoint, killing commands still
// running in pods.
func (c *Cluster) Close() {
	c.closeOnce.Do(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			c.procs[i].stop()
		}
		if c.kubelet != nil {
			c.kubelet.close()
		}
	})
}

// URL is the API server's address.
func (c *Cluster) URL() string { return c.url }

// CAPEM is the certificate that signs the API server's.
func (c *Cluster) CAPEM() []byte { return append([]byte(nil), c.pki.caPEM...) }

// Dir is the cluster's directory (logs of each program are there).
func (c *Cluster) Dir() string { return c.dir }

// RESTConfig is a client configuration with a bearer token.
func (c *Cluster) RESTConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            c.url,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAPEM()},
		QPS:             50, Burst: 100,
	}
}

// AdminREST is the cluster-admin client configuration.
func (c *Cluster) AdminREST() *rest.Config { return rest.CopyConfig(c.adminREST) }

// WriteKubeconfig writes a kubeconfig with one context named name, authenticating with token.
func (c *Cluster) WriteKubeconfig(path, name, token, namespace string) error {
	return WriteKubeconfig(path, map[string]Context{name: {Cluster: c, Token: token, Namespace: namespace}})
}

// Context is one entry of a kubeconfig: a cluster and who to be there.
type Context struct {
	Cluster   *Cluster
	Token     string
	Namespace string
}

// WriteKubeconfig writes one kubeconfig with a context, cluster and user per entry, each
// named by its key; the current context is the first name in sorted order.
func WriteKubeconfig(path string, contexts map[string]Context) error {
	if len(contexts) == 0 {
		return fmt.Errorf("realkube: write kubeconfig %s: no contexts", path)
	}
	cfg := clientcmdapi.NewConfig()
	for name, ctx := range contexts {
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: ctx.Cluster.URL(), CertificateAuthorityData: ctx.Cluster.CAPEM()}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: ctx.Token}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: ctx.Namespace}
		if cfg.CurrentContext == "" || name < cfg.CurrentContext {
			cfg.CurrentContext = name
		}
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("realkube: write kubeconfig %s: %w", path, err)
	}
	return nil
}

// EnsureNamespace creates a namespace if it does not exist.
func (c *Cluster) EnsureNamespace(ctx context.Context, name string, labels map[string]string) error {
	_, err := c.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("realkube: create namespace %s: %w", name, err)
	}
	return nil
}

// ServiceAccountToken asks the API server (TokenRequest) for a token of a service account,
// as the kubelet does for a pod.
func (c *Cluster) ServiceAccountToken(ctx context.Context, namespace, name string, ttl time.Duration) (string, error) {
	secs := int64(ttl / time.Second)
	tr, err := c.Admin.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("realkube: token for service account %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePorts finds n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// EnsureServiceAccount creates a service account if it does not exist.
func (c *Cluster) EnsureServiceAccount(ctx context.Context, ns, name string) error {
	_, err := c.Admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("realkube: create service account %s/%s: %w", ns, name, err)
	}
	return nil
}

// StopAPIServer stops the API server, as when a cluster's API endpoint goes away: clients'
// calls fail and their streams end. The rest of the control plane keeps running.
func (c *Cluster) StopAPIServer() {
	for _, p := range c.procs {
		if p.name == "kube-apiserver" {
			p.stop()
		}
	}
}
