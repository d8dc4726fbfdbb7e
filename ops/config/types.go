package config

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/pg"
)

// The types below mirror the YAML contract (cutover.example.yaml). Load fills them
// from a file, applies defaults and validates them; callers treat a loaded Config as
// read-only and share it freely.

// Config is the whole validated configuration.
type Config struct {
	Slack         Slack              `yaml:"slack"`
	Announcements Announcements      `yaml:"announcements"`
	Service       Service            `yaml:"service"`
	Database      Database           `yaml:"database"`
	Clusters      map[string]Cluster `yaml:"clusters"`
	GitHub        GitHub             `yaml:"github"`
	DNS           DNS                `yaml:"dns"`
	TLS           TLS                `yaml:"tls"`
	State         State              `yaml:"state"`
	HTTP          HTTP               `yaml:"http"`
	Schedule      Schedule           `yaml:"schedule"`
	// Plan, when present, replaces the default plan (plan.DefaultSpecs).
	Plan []StepSpec `yaml:"plan"`

	// Tokens come from the environment only, never from the file.
	Tokens Tokens `yaml:"-"`
	// Path is the file the configuration was read from.
	Path string `yaml:"-"`
}

type Slack struct {
	Channel           string      `yaml:"channel"`
	Maintainers       Maintainers `yaml:"maintainers"`
	ApprovalsRequired int         `yaml:"approvals_required"`
	ApprovalTimeout   Duration    `yaml:"approval_timeout"`
	ReminderEvery     Duration    `yaml:"reminder_every"`
	APIURL            string      `yaml:"api_url"`
	// Notify says how approvers hear of a prompt: mention, broadcast, dm.
	Notify Notify `yaml:"notify"`
}

type Maintainers struct {
	Users     []string `yaml:"users"`
	Usergroup string   `yaml:"usergroup"`
}

type Announcements struct {
	Start string `yaml:"start"`
	Done  string `yaml:"done"`
}

type Service struct {
	URL           string   `yaml:"url"`
	SnapshotPaths []string `yaml:"snapshot_paths"`
	CAFile        string   `yaml:"ca_file"`
	Timeout       Duration `yaml:"timeout"`
	// ReadyTimeout bounds how long a snapshot through a cluster's LB waits for meshweb
	// to answer 200 (pods that restarted during maintenance answer 502/503 meanwhile),
	// asking every ReadyPollEvery.
	ReadyTimeout   Duration `yaml:"ready_timeout"`
	ReadyPollEvery Duration `yaml:"ready_poll_every"`
}

type Database struct {
	Name          string   `yaml:"name"`
	User          string   `yaml:"user"`
	ExcludeTables []string `yaml:"exclude_tables"`
	// RestoreJobs is pg_restore's -j: a number, or auto (the default): as many as
	// the destination's postgres container has cores (its CPU limit, else the cores
	// it sees), at most pg.MaxAutoJobs.
	RestoreJobs Jobs `yaml:"restore_jobs"`
	// RestoreMaintenanceWorkMem is the maintenance_work_mem of the restore's own
	// sessions (index and constraint builds sort in it): auto (the default: an
	// eighth of the pod's memory shared among the jobs, at most 1GB, never below
	// the server's), a size such as 256MB, or "server" to leave the server's.
	RestoreMaintenanceWorkMem string `yaml:"restore_maintenance_work_mem"`
	// DumpCompression is pg_dump's -Z level (0-9); omitted means 1. nil only
	// before defaults are applied.
	DumpCompression *int `yaml:"dump_compression"`
	// PodBackupDir is where, in the destination's postgres pod, a copy of each backup
	// of the destination is kept: on its data volume, so that it survives the loss of
	// the bot replica that took it.
	PodBackupDir string `yaml:"pod_backup_dir"`
}

// DefaultPodBackupDir is on the data volume of the postgres image (PGDATA).
const DefaultPodBackupDir = "/var/lib/postgresql/data/cutoverbot-backups"

// DefaultDumpCompression is pg_dump -Z 1: zlib's fastest level. pg_dump's own
// default (6) spends twice the time for a file about a tenth smaller
// (docs/benchmarks.md), and the dump runs while MeshDB is in maintenance.
const DefaultDumpCompression = 1

// Jobs is a count of parallel jobs, or auto: the step reads the pod's cores when it
// runs. Numbers and "auto" are read during validation, so a bad value is reported
// with its path.
type Jobs struct {
	N   int // 0: auto
	raw string
}

// JobsAuto is "auto".
var JobsAuto = Jobs{}

// NJobs is a fixed count.
func NJobs(n int) Jobs { return Jobs{N: n} }

// Auto says whether the count is read from the pod when the step runs.
func (j Jobs) Auto() bool { return j.N == 0 }

func (j *Jobs) UnmarshalText(b []byte) error {
	j.raw = string(b)
	return nil
}

func (j Jobs) MarshalText() ([]byte, error) { return []byte(j.String()), nil }

func (j Jobs) String() string {
	if j.Auto() {
		return "auto"
	}
	return strconv.Itoa(j.N)
}

// RestoreMaintenance says how the restore sets maintenance_work_mem: auto, or kb (0:
// the server's own).
func (d Database) RestoreMaintenance() (auto bool, kb int64) {
	v := strings.TrimSpace(d.RestoreMaintenanceWorkMem)
	switch v {
	case "", "auto":
		return true, 0
	case "server":
		return false, 0
	}
	kb, _ = parseMemSize(v)
	return false, kb
}

// parseMemSize reads a PostgreSQL memory size with its unit (kB, MB, GB), in kB.
func parseMemSize(s string) (int64, bool) {
	m := memSize.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n <= 0 || n > 1<<30 {
		return 0, false
	}
	return n * map[string]int64{"kB": 1, "MB": 1 << 10, "GB": 1 << 20}[m[2]], true
}

var memSize = regexp.MustCompile(`^([0-9]+) ?(kB|MB|GB)$`)

// PG is the database the cutover acts on, as the pg package takes it.
func (d Database) PG() pg.DB {
	db := pg.DB{Name: d.Name, User: d.User, ExcludeTables: d.ExcludeTables}
	if d.DumpCompression != nil {
		db.Compress = strconv.Itoa(*d.DumpCompression)
	}
	return db
}

type Cluster struct {
	Kubeconfig        string   `yaml:"kubeconfig"`
	Context           string   `yaml:"context"`
	Namespace         string   `yaml:"namespace"`
	CeleryStatefulSet string   `yaml:"celery_statefulset"`
	Meshweb           Meshweb  `yaml:"meshweb"`
	Postgres          Postgres `yaml:"postgres"`
	LBAddress         string   `yaml:"lb_address"`
	LBHostname        string   `yaml:"lb_hostname"`
	GitHubEnvironment string   `yaml:"github_environment"`
	TFVars            string   `yaml:"tfvars"`
	// CertsEnvironment is the GitHub environment of the certificates repository
	// whose deploy serves this cluster's LB (default: the cluster's name).
	CertsEnvironment string `yaml:"certs_environment"`
}

type Meshweb struct {
	Selector  string   `yaml:"selector"`
	Container string   `yaml:"container"`
	Manage    []string `yaml:"manage"`
	// Deployment is the meshweb Deployment's name (for a plan that scales it).
	Deployment string `yaml:"deployment"`
}

type Postgres struct {
	Selector  string `yaml:"selector"`
	Container string `yaml:"container"`
}

type GitHub struct {
	APIURL string   `yaml:"api_url"`
	App    AppRepo  `yaml:"app"`
	DNS    DNSRepo  `yaml:"dns"`
	Certs  CertRepo `yaml:"certs"`
	// The waits for the workflow runs merges start (and the watch for deploys).
	RunPollEvery     Duration `yaml:"run_poll_every"`
	RunAppearTimeout Duration `yaml:"run_appear_timeout"`
	RunTimeout       Duration `yaml:"run_timeout"`
	// MergeTimeout bounds the wait for a person to merge a pull request the bot could
	// not merge itself; the step then fails with Retry, Skip and Abort.
	MergeTimeout Duration `yaml:"merge_timeout"`
}

type AppRepo struct {
	Repo           string `yaml:"repo"`
	Branch         string `yaml:"branch"`
	DeployWorkflow string `yaml:"deploy_workflow"`
}

type DNSRepo struct {
	Repo     string `yaml:"repo"`
	Branch   string `yaml:"branch"`
	File     string `yaml:"file"`
	Resource string `yaml:"resource"`
	Merge    string `yaml:"merge"`
	// Workflow is the file of the workflow a merge starts (Terraform applying DNS);
	// empty: the step does not wait for it.
	Workflow string `yaml:"workflow"`
}

type CertRepo struct {
	Repo         string `yaml:"repo"`
	Branch       string `yaml:"branch"`
	ListVariable string `yaml:"list_variable"`
	Placeholder  string `yaml:"placeholder"`
	Merge        string `yaml:"merge"`
	// Workflow is the file of the workflow a merge starts (deploying the LBs'
	// certificate lists); empty: the step does not wait for it.
	Workflow string `yaml:"workflow"`
}

type DNS struct {
	Name      string   `yaml:"name"`
	Resolvers []string `yaml:"resolvers"`
	PollEvery Duration `yaml:"poll_every"`
	Timeout   Duration `yaml:"timeout"`
}

type TLS struct {
	PollEvery Duration `yaml:"poll_every"`
	Timeout   Duration `yaml:"timeout"`
}

type State struct {
	Backend string `yaml:"backend"`
	Dir     string `yaml:"dir"`
	// Retention is how long a run's spool files (dumps, backups, snapshots: members'
	// personal data) are kept after the run ends.
	Retention Duration `yaml:"retention"`
	// For backend kubernetes (all optional): where the shared state and the leader
	// Lease live. Empty kubeconfig means the pod's service account; empty namespace
	// means the pod's own (or the context's).
	Kubeconfig    string   `yaml:"kubeconfig"`
	Context       string   `yaml:"context"`
	Namespace     string   `yaml:"namespace"`
	LeaseName     string   `yaml:"lease_name"`
	LeaseDuration Duration `yaml:"lease_duration"`
}

type HTTP struct {
	Listen string `yaml:"listen"`
}

// Schedule configures `/cutover schedule`: the zone that times without an offset are read in.
type Schedule struct {
	Timezone string `yaml:"timezone"`
}

// StepSpec is one entry of a configured plan. Which fields apply depends on Kind;
// the plan package turns specs into typed steps.
type StepSpec struct {
	Kind  string `yaml:"kind"`
	ID    string `yaml:"id"`
	Title string `yaml:"title"`
	// Cluster is "origin" or "destination".
	Cluster string `yaml:"cluster"`
	// scale
	Workload    string `yaml:"workload"`
	Name        string `yaml:"name"`
	Replicas    *int32 `yaml:"replicas"`
	RestoreFrom string `yaml:"restore_from"`
	// maintenance
	On *bool `yaml:"on"`
	// exec
	Target string   `yaml:"target"`
	Argv   []string `yaml:"argv"`
	// announce
	Template string `yaml:"template"`
	// snapshot
	Via         string `yaml:"via"`
	DiffAgainst string `yaml:"diff_against"`
	// pull-request
	Change string `yaml:"change"`
}

// Tokens are read from SLACK_BOT_TOKEN, SLACK_APP_TOKEN and GITHUB_TOKEN.
type Tokens struct {
	SlackBot Secret
	SlackApp Secret
	GitHub   Secret
}

// Duration is a time.Duration written in Go syntax ("90s", "2h") in the file.
type Duration struct {
	time.Duration
	raw string
}

func (d *Duration) UnmarshalText(b []byte) error {
	d.raw = string(b)
	return nil // parsed during validation, so every bad value is reported with its path
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }
