package kubefake

import (
	"fmt"
	"sort"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteKubeconfig writes one kubeconfig file with a context, cluster and user per entry,
// each named by its key (as prod1 and prod2 share one file in the example config). The
// current context is the first name in sorted order.
func WriteKubeconfig(path string, contexts map[string]*Server) error {
	if len(contexts) == 0 {
		return fmt.Errorf("kubefake: write kubeconfig %s: no contexts given", path)
	}
	cfg := clientcmdapi.NewConfig()
	names := make([]string, 0, len(contexts))
	for name, s := range contexts {
		names = append(names, name)
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: s.URL(), CertificateAuthorityData: s.CAPEM()}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: s.Token()}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
	}
	sort.Strings(names)
	cfg.CurrentContext = names[0]
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("kubefake: write kubeconfig %s: %w", path, err)
	}
	return nil
}
