// Package plan turns the configuration and an ORIGIN/DEST pair into the ordered list of
// steps a cutover follows, and builds rollback plans from the steps that have run.
// A plan is data: it says what each step will do, exactly, before anything runs.
package plan

// Kind is what a step does; executors are chosen by kind.
type Kind string

const (
	KindPreflight   Kind = "preflight"
	KindScale       Kind = "scale"
	KindMaintenance Kind = "maintenance"
	KindExec        Kind = "exec"
	KindAnnounce    Kind = "announce"
	KindSnapshot    Kind = "snapshot"
	KindDump        Kind = "dump"
	KindRestore     Kind = "restore"
	KindVerify      Kind = "verify"
	KindPullRequest Kind = "pull-request"
	KindWaitDNS     Kind = "wait-dns"
	KindWaitTLS     Kind = "wait-tls"
)

// Role names a cluster by its part in the run.
type Role string

const (
	Origin      Role = "origin"
	Destination Role = "destination"
)

// Step is one gated action. Exactly one of the parameter pointers is set, matching Kind.
type Step struct {
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// Title is a title a person wrote in the configuration, or the title of a step
	// stored by an earlier version; other steps' titles are TitleFacts, which the
	// transport words.
	Title      string      `json:"title"`
	TitleFacts *TitleFacts `json:"title_facts,omitempty"`
	// Role and Cluster say where the step acts ("" when it acts on no cluster).
	Role    Role   `json:"role,omitempty"`
	Cluster string `json:"cluster,omitempty"`
	// AutoRun steps are read-only and run without approval (preflight).
	AutoRun bool `json:"auto_run,omitempty"`
	// Optional marks a rollback step people may reasonably skip.
	Optional bool `json:"optional,omitempty"`
	// Undoes names the forward step a rollback step reverses.
	Undoes string `json:"undoes,omitempty"`

	Preflight   *Preflight   `json:"preflight,omitempty"`
	Scale       *Scale       `json:"scale,omitempty"`
	Maintenance *Maintenance `json:"maintenance,omitempty"`
	Exec        *Exec        `json:"exec,omitempty"`
	Announce    *Announce    `json:"announce,omitempty"`
	Snapshot    *Snapshot    `json:"snapshot,omitempty"`
	Dump        *Dump        `json:"dump,omitempty"`
	Restore     *Restore     `json:"restore,omitempty"`
	Verify      *Verify      `json:"verify,omitempty"`
	PullRequest *PullRequest `json:"pull_request,omitempty"`
	WaitDNS     *WaitDNS     `json:"wait_dns,omitempty"`
	WaitTLS     *WaitTLS     `json:"wait_tls,omitempty"`
}

// Preflight checks both clusters, GitHub and DNS, read-only.
type Preflight struct{}

// Workload kinds a scale step can act on.
const (
	StatefulSet = "statefulset"
	Deployment  = "deployment"
)

// Scale sets a workload's replicas through the scale subresource.
type Scale struct {
	Workload string `json:"workload"`
	Name     string `json:"name"`
	// Replicas is the target; when nil, RestoreFrom names the step whose recorded
	// previous count is the target.
	Replicas    *int32 `json:"replicas,omitempty"`
	RestoreFrom string `json:"restore_from,omitempty"`
}

// Maintenance turns the MAINTENANCE_MODE flag on or off.
type Maintenance struct {
	On bool `json:"on"`
}

// Exec runs a command in a meshweb or postgres pod.
type Exec struct {
	Target string   `json:"target"` // meshweb | postgres
	Argv   []string `json:"argv"`
}

// Announce posts a configured template top-level in the channel.
type Announce struct {
	Template string `json:"template"` // start | done
	Text     string `json:"text"`
}

// Snapshot fetches the mapdata endpoints, through the public URL or a cluster's LB.
type Snapshot struct {
	Via         string   `json:"via"` // public | lb
	Paths       []string `json:"paths"`
	URL         string   `json:"url"`
	LBAddress   string   `json:"lb_address,omitempty"`
	DiffAgainst string   `json:"diff_against,omitempty"`
}

// Dump streams pg_dump out of the postgres pod into the run's spool.
type Dump struct {
	Argv []string `json:"argv"`
}

// Restore copies a dump into the postgres pod, checks it, and runs pg_restore there.
type Restore struct {
	// From names the dump step whose file is restored; FromBackup restores the backup
	// this step's target took of itself (rollback).
	From       string   `json:"from,omitempty"`
	FromBackup string   `json:"from_backup,omitempty"`
	BackupArgv []string `json:"backup_argv,omitempty"`
	Argv       []string `json:"argv"`
	Jobs       int      `json:"jobs"` // 0: as many as the pod's cores (restore_jobs: auto)
}

// Verify compares per-table fingerprints of both databases.
type Verify struct {
	Exclude []string `json:"exclude,omitempty"`
}

// PullRequest opens (and, with merge auto, merges) a change in a GitHub repository.
type PullRequest struct {
	Change   string   `json:"change"` // dns | certs
	Repo     string   `json:"repo"`
	Base     string   `json:"base"`
	Files    []string `json:"files"`
	From     string   `json:"from,omitempty"`
	To       string   `json:"to,omitempty"`
	Merge    string   `json:"merge"`
	RevertOf string   `json:"revert_of,omitempty"`
	// Workflow is the file of the workflow the merge starts, whose run the step waits
	// for ("" = none).
	Workflow string `json:"workflow,omitempty"`
}

// WaitDNS polls resolvers until all answer Want for Name.
type WaitDNS struct {
	Name      string   `json:"name"`
	Want      string   `json:"want"`
	Resolvers []string `json:"resolvers"`
}

// WaitTLS waits for a verified handshake to Address with SNI ServerName.
type WaitTLS struct {
	Address    string `json:"address"`
	ServerName string `json:"server_name"`
}

// Plan is the resolved list of steps for one ORIGIN/DEST pair.
type Plan struct {
	Origin      string `json:"origin"`
	Destination string `json:"destination"`
	Steps       []Step `json:"steps"`
}

// Index returns the position of the step with that ID, or -1.
// RestoreOf finds the step that restores the dump of step dumpID (none: nil): the
// dump step copies its dump into that step's cluster and backs it up meanwhile.
func (p Plan) RestoreOf(dumpID string) *Step {
	for i, s := range p.Steps {
		if s.Kind == KindRestore && s.Restore != nil && s.Restore.FromBackup == "" && s.Restore.From == dumpID {
			return &p.Steps[i]
		}
	}
	return nil
}

func (p Plan) Index(id string) int {
	for i, s := range p.Steps {
		if s.ID == id {
			return i
		}
	}
	return -1
}

// Mutates reports whether running the step changes anything outside the bot.
func (s Step) Mutates() bool {
	switch s.Kind {
	case KindPreflight, KindSnapshot, KindDump, KindVerify, KindWaitDNS, KindWaitTLS:
		return false
	}
	return true
}
