package report

// Progress of running steps, as data: what a step is doing now, which the transport
// words in the step's progress message (the dump's and restore's are in dumprestore.go).

// Checking is progress: a check of preflight runs.
type Checking struct {
	Check string `json:"check"`
}

func (Checking) ReportKind() string { return "checking" }

// StoppedLeftovers is progress: what earlier attempts had left running was stopped
// before the step ran. What is the account in words of runs stored by earlier versions.
type StoppedLeftovers struct {
	Commands []Stopped `json:"commands,omitempty"`
	What     []string  `json:"what,omitempty"`
}

// Stopped is a command, or a database session, that the bot stopped in a cluster: one
// an earlier attempt left running, or one of an attempt whose context ended.
type Stopped struct {
	Cluster string `json:"cluster"`
	Session bool   `json:"session,omitempty"` // a database session, else a process in the pod
	PID     string `json:"pid"`
	PidFile string `json:"pid_file,omitempty"`
	App     string `json:"app,omitempty"`    // the session's application_name
	Killed  bool   `json:"killed,omitempty"` // the process outlived SIGTERM and took SIGKILL
}

// StoppedOwn is what the bot stopped of an attempt whose context ended (shutdown, a
// lost lease, Abort), and the clusters it could not reach to do so.
type StoppedOwn struct {
	Stopped   []Stopped    `json:"stopped,omitempty"`
	Unreached []ClusterErr `json:"unreached,omitempty"`
}

// ClusterErr is an error in one cluster.
type ClusterErr struct {
	Cluster string `json:"cluster"`
	Err     string `json:"err"`
	Reach   bool   `json:"reach,omitempty"` // the cluster could not be reached at all
}

func (StoppedLeftovers) ReportKind() string { return "stopped_leftovers" }

// SQLFallback is progress: meshweb could not set the maintenance flag, so it is set in
// SQL.
type SQLFallback struct{}

func (SQLFallback) ReportKind() string { return "sql_fallback" }

// WaitingReady is progress: a snapshot waits for meshweb to answer 200. Attempt and
// Err: the attempt that did not.
type WaitingReady struct {
	Where   Where  `json:"where"`
	Attempt int    `json:"attempt,omitempty"`
	Err     string `json:"err,omitempty"`
}

func (WaitingReady) ReportKind() string { return "waiting_ready" }

// Fetching is progress: a snapshot fetches its endpoints.
type Fetching struct {
	Paths []string `json:"paths"`
	Where Where    `json:"where"`
}

func (Fetching) ReportKind() string { return "fetching" }

// PRState is progress: the pull request found or opened, whose head holds exactly the
// bot's change (unless it was closed without merging).
type PRState struct {
	URL    string `json:"url"`
	State  string `json:"state"` // GitHub's: open, closed
	Merged bool   `json:"merged,omitempty"`
	Head   string `json:"head"`
}

func (PRState) ReportKind() string { return "pr_state" }

// HeadMoved is progress: the pull request's head moved after it was compared, so GitHub
// refused to merge it (Reason); it is compared again.
type HeadMoved struct {
	URL    string `json:"url"`
	Reason string `json:"reason"`
}

func (HeadMoved) ReportKind() string { return "head_moved" }

// AwaitingMerge is progress: a person is to merge the pull request (Refused: GitHub
// refused the bot's merge, for Reason).
type AwaitingMerge struct {
	URL     string `json:"url"`
	Refused bool   `json:"refused,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

func (AwaitingMerge) ReportKind() string { return "awaiting_merge" }

// AwaitingRun is progress: the pull request merged as MergeSHA; the Workflow run its
// merge starts is awaited.
type AwaitingRun struct {
	URL      string `json:"url"`
	MergeSHA string `json:"merge_sha"`
	Workflow string `json:"workflow"`
}

func (AwaitingRun) ReportKind() string { return "awaiting_run" }

// RunState is progress: the workflow run the merge of URL started, as GitHub gives it.
type RunState struct {
	URL        string `json:"url"`
	Workflow   string `json:"workflow"`
	RunURL     string `json:"run_url"`
	Status     string `json:"status"`               // queued, in_progress, completed, ...
	Conclusion string `json:"conclusion,omitempty"` // success, failure, ... (completed)
}

func (RunState) ReportKind() string { return "run_state" }

// Answer is one resolver's answer for a name.
type Answer struct {
	Resolver string   `json:"resolver"`
	Err      string   `json:"err,omitempty"`
	CNAME    string   `json:"cname,omitempty"`
	A        []string `json:"a,omitempty"`
}

// WaitingDNS is progress: the name does not answer Want on every resolver yet.
type WaitingDNS struct {
	Name    string   `json:"name"`
	Want    string   `json:"want"`
	Answers []Answer `json:"answers"`
}

func (WaitingDNS) ReportKind() string { return "waiting_dns" }

// Scaling is progress: a workload scaled From -> To replicas, with Status running.
type Scaling struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Workload  string `json:"workload"`
	Name      string `json:"name"`
	From      int32  `json:"from"`
	To        int32  `json:"to"`
	Status    int32  `json:"status"`
}

func (Scaling) ReportKind() string { return "scaling" }

// TLSAttempt is progress: an attempt at the certificate that did not verify (Err).
type TLSAttempt struct {
	Attempt int    `json:"attempt"`
	Err     string `json:"err"`
}

func (TLSAttempt) ReportKind() string { return "tls_attempt" }
