package report

import (
	"reflect"
	"time"
)

// What preflight's GitHub and DNS checks found (ops/steps/traffic.go), as data: what
// they passed on (check kinds) and why they failed (failure kinds), where ops/github
// and ops/steps once wrote a sentence.

var trafficCheckKinds = []Facts{CheckDeployed{}, CheckNoDeploy{}, CheckDNS{}, CheckWorkflows{}}

func init() {
	all = append(all, trafficCheckKinds...)
	for _, f := range trafficCheckKinds {
		kinds[f.ReportKind()] = reflect.TypeOf(f)
	}
}

// CheckDeployed: Environment runs the head (SHA) of Repo@Branch.
type CheckDeployed struct {
	Environment string `json:"environment"`
	Repo        string `json:"repo"`
	Branch      string `json:"branch"`
	SHA         string `json:"sha"`
}

func (CheckDeployed) ReportKind() string { return "check_deployed" }

// CheckNoDeploy: no run of Workflow in Repo is queued, waiting or in progress.
type CheckNoDeploy struct {
	Workflow string `json:"workflow"`
	Repo     string `json:"repo"`
}

func (CheckNoDeploy) ReportKind() string { return "check_no_deploy" }

// CheckDNS: Name is a CNAME of Target on all Resolvers; or the plan changes no DNS
// (NoChange) and nothing was asked.
type CheckDNS struct {
	NoChange  bool   `json:"no_change,omitempty"`
	Name      string `json:"name,omitempty"`
	Target    string `json:"target,omitempty"`
	Resolvers int    `json:"resolvers,omitempty"`
}

func (CheckDNS) ReportKind() string { return "check_dns" }

// WorkflowFound is a workflow a merge starts that does what the merge needs: it runs
// on a push to Branch of Repo, and (the certificate workflow, Environment set) its
// Jobs deploy to Environment.
type WorkflowFound struct {
	Repo        string   `json:"repo"`
	Workflow    string   `json:"workflow"`
	Branch      string   `json:"branch"`
	Environment string   `json:"environment,omitempty"`
	Jobs        []string `json:"jobs,omitempty"`
}

// CheckWorkflows: the workflows the plan's merges start (none: no merge waits for one).
type CheckWorkflows struct {
	Workflows []WorkflowFound `json:"workflows,omitempty"`
}

func (CheckWorkflows) ReportKind() string { return "check_workflows" }

// NotDeployedHow says how an environment does not run a branch's head.
type NotDeployedHow string

const (
	NotDeployedNone     NotDeployedHow = "none"     // no successful deployment at all
	NotDeployedBehind   NotDeployedHow = "behind"   // Deployed is Ahead commits behind Head
	NotDeployedDiverged NotDeployedHow = "diverged" // Deployed is not on Branch: Head is Ahead of it, it Behind of Head
	NotDeployedUnknown  NotDeployedHow = "unknown"  // Deployed is not Head, and comparing them failed (CompareErr)
)

// NotDeployed: Environment does not run the head (Head) of Repo@Branch, but Deployed
// (How).
type NotDeployed struct {
	How         NotDeployedHow `json:"how"`
	Repo        string         `json:"repo"`
	Branch      string         `json:"branch"`
	Environment string         `json:"environment"`
	Head        string         `json:"head,omitempty"`
	Deployed    string         `json:"deployed,omitempty"`
	Ahead       int            `json:"ahead,omitempty"`
	Behind      int            `json:"behind,omitempty"`
	CompareErr  string         `json:"compare_err,omitempty"`
}

func (NotDeployed) ReportKind() string { return "failed_not_deployed" }

// DeployRunning: runs of Workflow (URLs) are queued or in progress; a deploy resets
// the replica counts the cutover sets.
type DeployRunning struct {
	Workflow string   `json:"workflow"`
	URLs     []string `json:"urls"`
}

func (DeployRunning) ReportKind() string { return "failed_deploy_running" }

// WorkflowHow says what is wrong with a workflow a merge starts.
type WorkflowHow string

const (
	WorkflowUnread     WorkflowHow = "unread"       // it could not be read (Err)
	WorkflowNoPush     WorkflowHow = "no_push"      // it does not run on a push to Branch: the merge applies nothing
	WorkflowCertNoPush WorkflowHow = "cert_no_push" // the certificate workflow does not run on a push to Branch
	WorkflowBlocked    WorkflowHow = "blocked"      // its jobs that deploy to Environment never run (Blocked)
	WorkflowNoJob      WorkflowHow = "no_job"       // no job deploys to Environment (its jobs deploy to Elsewhere)
)

// BlockedJob is a job that deploys to the environment but never runs, and why.
type BlockedJob struct {
	Job string `json:"job"`
	Why string `json:"why"`
}

// WorkflowProblem: the workflow Workflow (named Name, when it has one) of Repo, set in
// github.Change.workflow, does not do what the merge needs (How).
type WorkflowProblem struct {
	How         WorkflowHow  `json:"how"`
	Repo        string       `json:"repo,omitempty"`
	Change      string       `json:"change,omitempty"`
	Workflow    string       `json:"workflow"`
	Name        string       `json:"name,omitempty"`
	Branch      string       `json:"branch,omitempty"`
	Environment string       `json:"environment,omitempty"`
	Blocked     []BlockedJob `json:"blocked,omitempty"`
	Elsewhere   []string     `json:"elsewhere,omitempty"`
	Err         string       `json:"err,omitempty"`
}

// Workflows: workflows the plan's merges start do not do what the merges need.
type Workflows struct {
	Problems []WorkflowProblem `json:"problems"`
}

func (Workflows) ReportKind() string { return "failed_workflows" }

// RunWaitHow says how a wait for a workflow run ended.
type RunWaitHow string

const (
	RunFailed      RunWaitHow = "failed"       // the run completed, not with success (Conclusion)
	RunNotAppeared RunWaitHow = "not_appeared" // no run for SHA appeared within Within
	RunNotFound    RunWaitHow = "not_found"    // no run for SHA was found before the wait ended (Within)
	RunStill       RunWaitHow = "still"        // the run was still Status when the wait ended (Within)
)

// RunWait: waiting for the run of workflow File (named Workflow, when it has a name) in
// Repo for commit SHA (pushed to Branch) ended without its success (How); URL, Status
// and Conclusion are the run's as GitHub last gave them, LastErr the last read's error.
type RunWait struct {
	How        RunWaitHow    `json:"how"`
	Repo       string        `json:"repo"`
	File       string        `json:"file"`
	Workflow   string        `json:"workflow,omitempty"`
	SHA        string        `json:"sha"`
	Branch     string        `json:"branch,omitempty"`
	URL        string        `json:"url,omitempty"`
	Status     string        `json:"status,omitempty"`
	Conclusion string        `json:"conclusion,omitempty"`
	Within     time.Duration `json:"within,omitempty"`
	LastErr    string        `json:"last_err,omitempty"`
}

func (RunWait) ReportKind() string { return "failed_run_wait" }
