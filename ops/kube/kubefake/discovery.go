package kubefake

import (
	"net/http"
	"runtime"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
)

// ServerVersion is what /version reports.
var ServerVersion = version.Info{
	Major:      "1",
	Minor:      "37",
	GitVersion: "v1.37.2-kubefake",
	Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	GoVersion:  runtime.Version(),
}

var objectVerbs = metav1.Verbs{"create", "delete", "get", "list", "update", "watch"}

// discoveryRoutes serves the legacy (unaggregated) discovery documents; client-go falls back
// to them when the server does not answer with aggregated discovery.
func (s *Server) discoveryRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, ServerVersion)
	})
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
			Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
				{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
			},
		})
	})
	groups := map[schema.GroupVersion][]resource{}
	var order []schema.GroupVersion
	for _, res := range resources {
		gv := res.gvk.GroupVersion()
		if _, ok := groups[gv]; !ok {
			order = append(order, gv)
		}
		groups[gv] = append(groups[gv], res)
	}
	mux.HandleFunc("GET /apis", func(w http.ResponseWriter, r *http.Request) {
		list := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for _, gv := range order {
			if gv.Group == "" {
				continue
			}
			v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
			list.Groups = append(list.Groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
		}
		writeJSON(w, http.StatusOK, list)
	})
	for _, gv := range order {
		path := "/apis/" + gv.String()
		if gv.Group == "" {
			path = "/api/" + gv.Version
		}
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, resourceList(gv, groups[gv]))
		})
	}
}

func resourceList(gv schema.GroupVersion, rs []resource) metav1.APIResourceList {
	list := metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for _, res := range rs {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: res.plural, Namespaced: true, Kind: res.gvk.Kind, Verbs: objectVerbs,
		})
		for _, sub := range res.subresources {
			r := metav1.APIResource{Name: res.plural + "/" + sub, Namespaced: true}
			switch sub {
			case "scale":
				r.Group, r.Version, r.Kind, r.Verbs = "autoscaling", "v1", "Scale", metav1.Verbs{"get", "patch", "update"}
			case "exec":
				r.Kind, r.Verbs = "PodExecOptions", metav1.Verbs{"create", "get"}
			}
			list.APIResources = append(list.APIResources, r)
		}
	}
	return list
}
