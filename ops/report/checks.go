package report

import "reflect"

// What preflight's checks found, as data: one kind per check's finding, stored in the
// check's line (engine.CheckLine.Report) and worded by the transport
// (handlers/templates/checks.tmpl), where ops/steps once wrote a sentence.

// checkKinds are the checks' findings, registered with every other kind.
var checkKinds = []Facts{CheckReachable{}, CheckPods{}, CheckCelery{}, CheckDigests{}, CheckDigestsDiffer{}, CheckPermissions{}}

func init() {
	all = append(all, checkKinds...)
	for _, f := range checkKinds {
		kinds[f.ReportKind()] = reflect.TypeOf(f)
	}
}

// CheckReachable: each cluster's API server answered.
type CheckReachable struct {
	Clusters []string `json:"clusters"`
}

func (CheckReachable) ReportKind() string { return "check_reachable" }

// ClusterPods are the meshweb and postgres pods found ready in a cluster.
type ClusterPods struct {
	Cluster  string `json:"cluster"`
	Meshweb  string `json:"meshweb"`
	Postgres string `json:"postgres"`
}

// CheckPods: each cluster has a ready meshweb and postgres pod.
type CheckPods struct {
	Clusters []ClusterPods `json:"clusters"`
}

func (CheckPods) ReportKind() string { return "check_pods" }

// ClusterWorkload is a workload found in a cluster.
type ClusterWorkload struct {
	Cluster string `json:"cluster"`
	Name    string `json:"name"`
}

// CheckCelery: each cluster has its celery StatefulSet.
type CheckCelery struct {
	StatefulSets []ClusterWorkload `json:"statefulsets"`
}

func (CheckCelery) ReportKind() string { return "check_celery" }

// CheckDigests: both clusters run meshweb's image Digest.
type CheckDigests struct {
	Digest string `json:"digest"`
}

func (CheckDigests) ReportKind() string { return "check_digests" }

// CheckDigestsDiffer is advice: the clusters run different meshweb images, so the
// restore gives the destination the origin's migrations.
type CheckDigestsDiffer struct {
	Origin            string `json:"origin"`
	OriginDigest      string `json:"origin_digest"`
	Destination       string `json:"destination"`
	DestinationDigest string `json:"destination_digest"`
}

func (CheckDigestsDiffer) ReportKind() string { return "check_digests_differ" }

// CheckPermissions: the bot's identity holds all Count permissions the plan needs in
// each of Clusters.
type CheckPermissions struct {
	Count    int      `json:"count"`
	Clusters []string `json:"clusters"`
}

func (CheckPermissions) ReportKind() string { return "check_permissions" }

// ClusterPermissions is why the permissions in Cluster are not known to be enough:
// the bot may not do Missing in Namespace, or they could not be asked about (Err, a
// failure's text).
type ClusterPermissions struct {
	Cluster   string   `json:"cluster"`
	Namespace string   `json:"namespace,omitempty"`
	Missing   []string `json:"missing,omitempty"`
	Err       string   `json:"err,omitempty"`
}

// Permissions: the bot's identity lacks permissions the plan needs, or could not ask.
type Permissions struct {
	Clusters []ClusterPermissions `json:"clusters"`
}

func (Permissions) ReportKind() string { return "failed_permissions" }
