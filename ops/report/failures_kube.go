package report

import "time"

// Failure kinds of ops/kube: a pod not found, a command in a pod that failed, a
// workload that could not be read, scaled or annotated, an API server that refused.
// Cluster and Namespace say where ("prod1", "meshdb"); the API's own error is the cause.

// NoPod: no pod matching Selector in Cluster/Namespace is Running and Ready with
// Container (kube.ErrNoPod); Matched pods match the selector at all.
type NoPod struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Selector  string `json:"selector"`
	Container string `json:"container"`
	Matched   int    `json:"matched,omitempty"`
}

func (NoPod) ReportKind() string { return "failed_no_pod" }

// ExitCode: Command (as a shell would read it) exited with Code in Pod's Container;
// Stderr is the end of what it said.
type ExitCode struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Container string `json:"container"`
	Command   string `json:"command"`
	Code      int    `json:"code"`
	Stderr    string `json:"stderr,omitempty"`
}

func (ExitCode) ReportKind() string { return "failed_exit_code" }

// ExecFailed: Command could not be run to its end in Pod's Container (the cause: the
// connection's error), or was empty (Empty); Stderr is what it said before.
type ExecFailed struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Container string `json:"container"`
	Command   string `json:"command"`
	Stderr    string `json:"stderr,omitempty"`
	Empty     bool   `json:"empty,omitempty"`
}

func (ExecFailed) ReportKind() string { return "failed_exec" }

// NoExitStatus: an exec stream ended without its exit status (kube.ErrNoExitStatus):
// the connection was lost and the output may be truncated.
type NoExitStatus struct{}

func (NoExitStatus) ReportKind() string { return "failed_no_exit_status" }

// APIRefused: the API server answered Code (401: the token; 403: a permission).
type APIRefused struct {
	Code int `json:"code"`
}

func (APIRefused) ReportKind() string { return "failed_api_refused" }

// ListPods: the pods matching Selector in Cluster/Namespace could not be listed.
type ListPods struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Selector  string `json:"selector"`
}

func (ListPods) ReportKind() string { return "failed_list_pods" }

// NoImageID: Pod's Container reports no image ID yet.
type NoImageID struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Container string `json:"container"`
}

func (NoImageID) ReportKind() string { return "failed_no_image_id" }

// UnknownWorkload: Kind is neither statefulset nor deployment (Name in Cluster/Namespace,
// when known).
type UnknownWorkload struct {
	Cluster   string `json:"cluster,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind"`
	Name      string `json:"name,omitempty"`
}

func (UnknownWorkload) ReportKind() string { return "failed_unknown_workload" }

// WorkloadNotFound: the workload Kind Name is not in Cluster/Namespace (kube.ErrNotFound).
type WorkloadNotFound struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
}

func (WorkloadNotFound) ReportKind() string { return "failed_workload_not_found" }

// WorkloadCallOf names a call about a workload.
type WorkloadCallOf string

const (
	WorkloadGet      WorkloadCallOf = "get"
	WorkloadAnnotate WorkloadCallOf = "annotate"
)

// WorkloadCall: reading (get) or annotating the workload Kind Name in Cluster/Namespace
// failed (the cause: the API's error).
type WorkloadCall struct {
	Of        WorkloadCallOf `json:"of"`
	Cluster   string         `json:"cluster"`
	Namespace string         `json:"namespace"`
	Kind      string         `json:"kind"`
	Name      string         `json:"name"`
}

func (WorkloadCall) ReportKind() string { return "failed_workload_call" }

// ScaleHow says how scaling a workload failed.
type ScaleHow string

const (
	ScaleNegative    ScaleHow = "negative"    // Replicas < 0: nothing was asked
	ScaleConflicting ScaleHow = "conflicting" // still conflicting after Attempts
	ScaleCall        ScaleHow = "call"        // the API refused (the cause)
	ScaleUnread      ScaleHow = "unread"      // scaled, then its status could not be read (LastErr)
	ScaleStuck       ScaleHow = "stuck"       // scaled, but status.replicas stayed at Status for Timeout
)

// ScaleFailed: scaling the workload Kind Name in Cluster/Namespace from Previous to
// Replicas failed (How); the cause is the API's error or the wait's.
type ScaleFailed struct {
	How       ScaleHow      `json:"how"`
	Cluster   string        `json:"cluster"`
	Namespace string        `json:"namespace"`
	Kind      string        `json:"kind"`
	Name      string        `json:"name"`
	Previous  int32         `json:"previous,omitempty"`
	Replicas  int32         `json:"replicas"`
	Status    int32         `json:"status,omitempty"`
	Timeout   time.Duration `json:"timeout,omitempty"`
	Attempts  int           `json:"attempts,omitempty"`
	LastErr   string        `json:"last_err,omitempty"`
}

func (ScaleFailed) ReportKind() string { return "failed_scale" }

// AccessReview: the API server could not be asked whether this identity may Access in
// Cluster/Namespace (the cause).
type AccessReview struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Access    string `json:"access"`
}

func (AccessReview) ReportKind() string { return "failed_access_review" }

// PingHow says how a cluster's /version failed.
type PingHow string

const (
	PingCall       PingHow = "call"        // the call failed (the cause)
	PingNotVersion PingHow = "not_version" // the answer is not a Kubernetes version (the cause: why)
	PingNoVersion  PingHow = "no_version"  // the answer holds no version
)

// Ping: the API server of Cluster at Host did not answer /version as one should.
type Ping struct {
	Cluster string  `json:"cluster"`
	Host    string  `json:"host"`
	How     PingHow `json:"how"`
}

func (Ping) ReportKind() string { return "failed_ping" }

// ConnectHow says why a client for a cluster could not be built.
type ConnectHow string

const (
	ConnectNotInPod      ConnectHow = "not_in_pod"     // no kubeconfig, and no pod's service account either
	ConnectNamespaceFile ConnectHow = "namespace_file" // no namespace configured, and the pod's (Path) unreadable
	ConnectKubeconfig    ConnectHow = "kubeconfig"     // Kubeconfig's Context could not be loaded
	ConnectNamespace     ConnectHow = "namespace"      // the namespace of Context could not be read
	ConnectClient        ConnectHow = "client"         // the client could not be built from what was loaded
)

// Connect: no client for Cluster could be built (How); the cause says why. Nothing
// was asked of the API server yet.
type Connect struct {
	Cluster    string     `json:"cluster"`
	How        ConnectHow `json:"how"`
	Kubeconfig string     `json:"kubeconfig,omitempty"`
	Context    string     `json:"context,omitempty"`
	Path       string     `json:"path,omitempty"`
}

func (Connect) ReportKind() string { return "failed_connect" }
