package report

import (
	"encoding/json"
	"reflect"
	"time"
)

// Why a step failed, as data: each type is one kind of failure with the fields a person
// needs to act (the cluster, the file, the sha256s), returned inside a *Failed error.
// The engine stores it in the run (engine.StepRun.Failure) and the transport words it
// (handlers/templates/failures.tmpl), followed by the underlying cause's own text (an
// API error, pg_restore's stderr), which is not ours to word.

// Failed is a step's error: what failed (Facts) and why underneath (Err, nil when the
// facts say all). errors.Is(err, Sentinel) holds when Sentinel is set (pg.ErrChecksum).
type Failed struct {
	Facts    Facts
	Err      error
	Sentinel error
}

// Fail returns the failure facts with its cause (nil when the facts say all).
func Fail(facts Facts, cause error) error { return &Failed{Facts: facts, Err: cause} }

// Error is a short form for logs, which the transport can read back and word (a
// failure's error text stored in a report's field, or wrapped): the kind, its facts as
// JSON, and the cause's text as a JSON string after "cause".
func (f *Failed) Error() string {
	b, _ := json.Marshal(f.Facts)
	s := f.Facts.ReportKind() + " " + string(b)
	if f.Err != nil {
		c, _ := json.Marshal(f.Err.Error())
		s += " cause " + string(c)
	}
	return s
}

// Unwrap returns the cause.
func (f *Failed) Unwrap() error { return f.Err }

// Is matches the sentinel the failure stands for.
func (f *Failed) Is(target error) bool { return f.Sentinel != nil && target == f.Sentinel }

// FailureFacts is what failed (engine.Failing).
func (f *Failed) FailureFacts() interface{ ReportKind() string } { return f.Facts }

// FailureCause is the underlying cause (engine.Failing).
func (f *Failed) FailureCause() error { return f.Err }

// failures holds one value of each failure kind's type.
var failures = []Facts{SpoolDir{}, DumpFailed{}, RedumpNoOrigin{}, RedumpFailed{}, BackupNotFound{}, BackupLost{}, NoDump{},
	StepResult{}, NoDumpFile{}, NoBackup{}, BackupFailed{}, NotRestored{}, NotRecorded{}, RestoreFailed{}, BackupMissing{},
	FindPodToRemove{}, Checksum{}, BackupExists{}, NoCluster{}, RecordCount{}, NoCount{}, MaintenanceNoPostgres{},
	MaintenanceSQL{}, MaintenanceUnread{}, MaintenanceReads{}, Fingerprint{}, TablesDiffer{}, Leftovers{},
	NoPrior{}, PriorGone{}, NotMerged{}, NoMergeCommit{}, NotANumber{}, MkdirInPod{}, ManageOutput{},
	PodCommand{}, UnexpectedAnswer{}, SpoolFile{}, RemotePath{}, BadMagic{}, DumpExit{}, DumpStopped{}, PgRestore{},
	StageStalled{}, StageExited{}, StageShort{}, SessionsLeft{},
	NoPod{}, ExitCode{}, ExecFailed{}, NoExitStatus{}, APIRefused{}, ListPods{}, NoImageID{}, UnknownWorkload{}, WorkloadNotFound{},
	WorkloadCall{}, ScaleFailed{}, AccessReview{}, Ping{}, DNSAnswer{}, DNSWait{}, DNSCheck{},
	NoExecutor{}, Crashed{}, StoredResult{}, PreflightFailed{},
	NotDeployed{}, DeployRunning{}, Workflows{}, Permissions{}, SnapshotDiffers{},
	SnapshotGet{}, MeshwebNotReady{}, TLSHandshake{}, TLSWait{}, RunWait{}, Connect{}, UnknownCluster{}, SameCluster{}, NoPRWords{}}

// Failure kinds are decoded as report kinds are (Decode); their names are distinct.
func init() {
	for _, f := range failures {
		kinds[f.ReportKind()] = reflect.TypeOf(f)
	}
}

// FailureKinds lists every failure kind, for the transport's tests (each must have words).
func FailureKinds() []string {
	out := make([]string, len(failures))
	for i, f := range failures {
		out[i] = f.ReportKind()
	}
	return out
}

// SpoolDir: the spool directory could not be made.
type SpoolDir struct {
	Path string `json:"path"`
}

func (SpoolDir) ReportKind() string { return "failed_spool_dir" }

// DumpFailed: pg_dump of Cluster failed.
type DumpFailed struct {
	Cluster string `json:"cluster"`
}

func (DumpFailed) ReportKind() string { return "failed_dump" }

// RedumpNoOrigin: the dump spool is not on this replica (SpoolErr), and From, to dump
// again, has no postgres pod (the cause).
type RedumpNoOrigin struct {
	SpoolErr string `json:"spool_err"`
	From     string `json:"from"`
}

func (RedumpNoOrigin) ReportKind() string { return "failed_redump_no_origin" }

// RedumpFailed: the dump spool is not on this replica (SpoolErr), and dumping From
// again failed.
type RedumpFailed struct {
	SpoolErr string `json:"spool_err"`
	From     string `json:"from"`
}

func (RedumpFailed) ReportKind() string { return "failed_redump" }

// BackupNotFound: a recorded backup of Cluster is neither whole in the spool of
// Replica (Path) nor on Cluster's postgres volume (PodPath, "" when no copy was kept).
// Each place says why: the sha256 found there (SpoolGot, PodGot), else an error
// (SpoolErr, PodErr; PodErr "" with no PodGot: no copy was kept there).
type BackupNotFound struct {
	Cluster  string `json:"cluster"`
	SHA256   string `json:"sha256"`
	Path     string `json:"path"`
	Replica  string `json:"replica"`
	PodPath  string `json:"pod_path,omitempty"`
	SpoolGot string `json:"spool_got,omitempty"`
	SpoolErr string `json:"spool_err,omitempty"`
	PodGot   string `json:"pod_got,omitempty"`
	PodErr   string `json:"pod_err,omitempty"`
}

func (BackupNotFound) ReportKind() string { return "failed_backup_not_found" }

// BackupLost: the backup an earlier attempt of the restore into Cluster recorded
// (Path) cannot be found (the cause), so nothing was run.
type BackupLost struct {
	Cluster string `json:"cluster"`
	Path    string `json:"path"`
}

func (BackupLost) ReportKind() string { return "failed_backup_lost" }

// NoDump: the dump step Step has not produced a dump.
type NoDump struct {
	Step string `json:"step"`
}

func (NoDump) ReportKind() string { return "failed_no_dump" }

// StepResult: the result step Step recorded cannot be read (the cause).
type StepResult struct {
	Step string `json:"step"`
}

func (StepResult) ReportKind() string { return "failed_step_result" }

// NoDumpFile: the dump step recorded no file to restore from.
type NoDumpFile struct{}

func (NoDumpFile) ReportKind() string { return "failed_no_dump_file" }

// NoBackup: the restore step to undo recorded no backup.
type NoBackup struct{}

func (NoBackup) ReportKind() string { return "failed_no_backup" }

// BackupFailed: the backup of Cluster before the restore failed; nothing was restored.
type BackupFailed struct {
	Cluster string `json:"cluster"`
}

func (BackupFailed) ReportKind() string { return "failed_backup" }

// NotRestored: the file could not be made ready in Cluster's pod; nothing was restored.
type NotRestored struct {
	Cluster string `json:"cluster"`
}

func (NotRestored) ReportKind() string { return "failed_not_restored" }

// NotRecorded: the backup of Cluster could not be recorded in the run before
// pg_restore; nothing was restored.
type NotRecorded struct {
	Cluster string `json:"cluster"`
}

func (NotRecorded) ReportKind() string { return "failed_not_recorded" }

// RestoreFailed: pg_restore into Cluster failed (the cause says how).
type RestoreFailed struct {
	Cluster string `json:"cluster"`
}

func (RestoreFailed) ReportKind() string { return "failed_restore" }

// BackupMissing: the backup the undo restores cannot be found (the cause says where it
// was looked for); nothing was restored.
type BackupMissing struct{}

func (BackupMissing) ReportKind() string { return "failed_backup_missing" }

// FindPodToRemove: no postgres pod was found in Cluster to remove Path from.
type FindPodToRemove struct {
	Cluster string `json:"cluster"`
	Path    string `json:"path"`
}

func (FindPodToRemove) ReportKind() string { return "failed_find_pod_to_remove" }

// ChecksumOf says which file's sha256 did not match.
type ChecksumOf string

const (
	// ChecksumSent: the spool file, as it was sent into the pod, is not the dump.
	ChecksumSent ChecksumOf = "sent"
	// ChecksumCopy: the copy in the pod is not the dump (Got "(nothing)": unreadable).
	ChecksumCopy ChecksumOf = "copy"
	// ChecksumNone: no sha256 is recorded for the dump (Want).
	ChecksumNone ChecksumOf = "none"
	// ChecksumBackup: the backup's spool file (Path) is not the backup.
	ChecksumBackup ChecksumOf = "backup"
)

// Checksum: a sha256 did not match (pg.ErrChecksum).
type Checksum struct {
	Of   ChecksumOf `json:"of"`
	Path string     `json:"path,omitempty"`
	Got  string     `json:"got,omitempty"`
	Want string     `json:"want"`
}

func (Checksum) ReportKind() string { return "failed_checksum" }

// BackupExists: a backup would have replaced the file at Path (pg.ErrExists).
type BackupExists struct {
	Path string `json:"path"`
}

func (BackupExists) ReportKind() string { return "failed_backup_exists" }

// NoCluster: no connection to Cluster is configured.
type NoCluster struct {
	Cluster string `json:"cluster"`
}

func (NoCluster) ReportKind() string { return "failed_no_cluster" }

// RecordCount: the replica count of Name could not be recorded before scaling it, on
// the workload (InRun false) or in the run.
type RecordCount struct {
	Name  string `json:"name"`
	InRun bool   `json:"in_run,omitempty"`
}

func (RecordCount) ReportKind() string { return "failed_record_count" }

// NoCount: Step recorded no replica count for Name to scale it back to.
type NoCount struct {
	Step string `json:"step"`
	Name string `json:"name"`
}

func (NoCount) ReportKind() string { return "failed_no_count" }

// MaintenanceNoPostgres: setting the flag On needs the postgres pod, not found.
type MaintenanceNoPostgres struct {
	On bool `json:"on"`
}

func (MaintenanceNoPostgres) ReportKind() string { return "failed_maintenance_no_postgres" }

// MaintenanceSQL: the flag could not be set On in Cluster through meshweb nor in SQL.
type MaintenanceSQL struct {
	On      bool   `json:"on"`
	Cluster string `json:"cluster"`
}

func (MaintenanceSQL) ReportKind() string { return "failed_maintenance_sql" }

// MaintenanceUnread: the flag could not be read back in Cluster.
type MaintenanceUnread struct {
	Cluster string `json:"cluster"`
}

func (MaintenanceUnread) ReportKind() string { return "failed_maintenance_unread" }

// MaintenanceReads: the flag reads Reads in Cluster after setting it Set.
type MaintenanceReads struct {
	Reads   bool   `json:"reads"`
	Set     bool   `json:"set"`
	Cluster string `json:"cluster"`
}

func (MaintenanceReads) ReportKind() string { return "failed_maintenance_reads" }

// Fingerprint: the tables of Cluster could not be fingerprinted.
type Fingerprint struct {
	Cluster string `json:"cluster"`
}

func (Fingerprint) ReportKind() string { return "failed_fingerprint" }

// TablesDiffer: tables differ between Origin and Destination (Diffs, one per table).
type TablesDiffer struct {
	Origin      string   `json:"origin"`
	Destination string   `json:"destination"`
	Diffs       []string `json:"diffs"`
}

func (TablesDiffer) ReportKind() string { return "failed_tables_differ" }

// Leftovers: what earlier attempts left running in Cluster could not be looked for
// (Stop false) or stopped; nothing was run.
type Leftovers struct {
	Cluster string `json:"cluster"`
	Stop    bool   `json:"stop,omitempty"`
}

func (Leftovers) ReportKind() string { return "failed_leftovers" }

// NoPrior: Step took no snapshot to compare with.
type NoPrior struct {
	Step string `json:"step"`
}

func (NoPrior) ReportKind() string { return "failed_no_prior" }

// PriorGone: the snapshot to compare with is gone from the spool.
type PriorGone struct{}

func (PriorGone) ReportKind() string { return "failed_prior_gone" }

// NotMerged: URL was not merged within Timeout (github.merge_timeout).
type NotMerged struct {
	URL     string        `json:"url"`
	Timeout time.Duration `json:"timeout"`
}

func (NotMerged) ReportKind() string { return "failed_not_merged" }

// NoMergeCommit: GitHub gives no merge commit for URL, so its Workflow run cannot be
// found.
type NoMergeCommit struct {
	URL      string `json:"url"`
	Workflow string `json:"workflow"`
}

func (NoMergeCommit) ReportKind() string { return "failed_no_merge_commit" }

// NumberOf names a number recorded by an earlier version as a string.
type NumberOf string

const (
	NumberReplicas NumberOf = "replicas"  // a scale's replica count
	NumberPR       NumberOf = "pr_number" // a pull request's number
	NumberSize     NumberOf = "size"      // a file's size (Path)
)

// NotANumber: a number recorded by an earlier version (Of) is not one (Value).
type NotANumber struct {
	Of    NumberOf `json:"of"`
	Value string   `json:"value"`
	Path  string   `json:"path,omitempty"`
}

func (NotANumber) ReportKind() string { return "failed_not_a_number" }

// MkdirInPod: mkdir -p Dir failed in Pod (Stderr: its last words).
type MkdirInPod struct {
	Dir    string `json:"dir"`
	Pod    string `json:"pod"`
	Stderr string `json:"stderr"`
}

func (MkdirInPod) ReportKind() string { return "failed_mkdir_in_pod" }

// ManageOutput: manage.py said Stdout, not Want.
type ManageOutput struct {
	Stdout string `json:"stdout"`
	Want   string `json:"want"`
}

func (ManageOutput) ReportKind() string { return "failed_manage_output" }

// NoExecutor: this bot runs no steps of Kind.
type NoExecutor struct {
	Kind string `json:"kind"`
}

func (NoExecutor) ReportKind() string { return "failed_no_executor" }

// Crashed: Step panicked with Panic (a bug).
type Crashed struct {
	Step  string `json:"step"`
	Panic string `json:"panic"`
}

func (Crashed) ReportKind() string { return "failed_crashed" }

// StoredResult: a step's stored result cannot be read as Type (the cause), or
// predates typed results and cannot be read as Type at all (Legacy).
type StoredResult struct {
	Type   string `json:"type"`
	Legacy bool   `json:"legacy,omitempty"`
}

func (StoredResult) ReportKind() string { return "failed_stored_result" }

// PreflightFailed: the preflight checks with these IDs failed and were not overridden
// (the step's result holds every check's line).
type PreflightFailed struct {
	Checks []string `json:"checks"`
}

func (PreflightFailed) ReportKind() string { return "failed_preflight" }

// UnknownCluster: Cluster is not one of the configured clusters (Known).
type UnknownCluster struct {
	Cluster string   `json:"cluster"`
	Known   []string `json:"known"`
}

func (UnknownCluster) ReportKind() string { return "failed_unknown_cluster" }

// SameCluster: the origin and the destination are both Cluster.
type SameCluster struct {
	Cluster string `json:"cluster"`
}

func (SameCluster) ReportKind() string { return "failed_same_cluster" }

// NoPRWords: the bot was built without the words of its pull requests
// (steps.RegisterTrafficSteps), and a pull request without a title is not one to open.
type NoPRWords struct{}

func (NoPRWords) ReportKind() string { return "failed_no_pr_words" }
