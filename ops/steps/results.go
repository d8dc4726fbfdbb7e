package steps

import (
	"strconv"

	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// The result of each step kind: what later steps, the rollback, metrics and messages
// read, stored as JSON in the run (engine.Output.Result) and read with
// engine.ResultOf. Each type also reads the string values that runs stored before
// results were typed (FromValues), so a run in flight survives an upgrade.

// ScaleResult is what a scale step recorded.
type ScaleResult struct {
	// Previous is the replica count the workload had when this attempt scaled it.
	Previous int32 `json:"previous_replicas"`
}

// MaintenanceResult is the flag as read back after a maintenance step.
type MaintenanceResult struct {
	On bool `json:"on"`
}

// SnapshotResult is where a snapshot step kept what it fetched.
type SnapshotResult struct {
	Dir string `json:"dir"`
}

// PullRequestResult is the pull request a step opened (or the revert it opened).
type PullRequestResult struct {
	Number  int    `json:"number"`
	URL     string `json:"url"`
	Repo    string `json:"repo"`
	HeadSHA string `json:"head_sha,omitempty"` // the head compared with the bot's change, and merged by
	BaseSHA string `json:"base_sha"`
	Merged  bool   `json:"merged"`
	// Run is the workflow run the merge started, once found.
	Run *WorkflowRun `json:"run,omitempty"`
}

// WorkflowRun is a GitHub Actions run a step waited for.
type WorkflowRun struct {
	ID         int64  `json:"id"`
	Workflow   string `json:"workflow"`
	URL        string `json:"url"`
	HeadSHA    string `json:"head_sha"`
	Conclusion string `json:"conclusion,omitempty"`
}

// PodFile is a file the bot wrote in a pod.
type PodFile struct {
	Cluster string `json:"cluster"`
	Pod     string `json:"pod"`
	Path    string `json:"path"`
}

// DumpResult is what a dump step made: the dump in the spool and, when the plan
// restores it, its copy in the destination pod and a backup of the destination taken
// meanwhile.
type DumpResult struct {
	Spool pg.DumpResult `json:"spool"`
	// Copy is the dump's copy in the destination pod, when it arrived whole.
	Copy *PodFile `json:"copy,omitempty"`
	// Early is the destination's backup taken during the dump, with its state read
	// before and after it.
	Early *EarlyBackup `json:"early_backup,omitempty"`
}

// Backup is a backup of a database the bot took before overwriting it: the file in the
// spool of the replica that took it, and a copy on the postgres pod's data volume
// (which outlives that replica). A backup of a run is never overwritten.
type Backup struct {
	File    pg.DumpResult `json:"file"`
	Cluster string        `json:"cluster"`
	Replica string        `json:"replica,omitempty"` // the bot replica whose spool holds File
	InPod   *PodFile      `json:"in_pod,omitempty"`
}

// Taken says whether b names a backup.
func (b Backup) Taken() bool { return b.File.Path != "" && b.File.SHA256 != "" }

// EarlyBackup is a backup of the destination taken during the dump step.
type EarlyBackup struct {
	Backup `json:"backup"`
	Before pg.State `json:"before"`
	After  pg.State `json:"after"`
}

// RestoreResult is what a restore step did. It is recorded in the run before
// pg_restore starts (then only Backup and Restored are set), so that a retry or the
// undo after any interruption finds the backup of the destination as it was.
type RestoreResult struct {
	// Backup is the destination's data before the restore, kept for the undo.
	Backup Backup `json:"backup"`
	// BackupState is the destination's state the backup is of, when it was read.
	BackupState *pg.State `json:"backup_state,omitempty"`
	// Restored is the dump restored: the dump step's, or a new dump of the origin when
	// the spool was on another replica (then RedumpOf is the sha256 it replaced, and a
	// retry restores the new one).
	Restored pg.DumpResult `json:"restored"`
	RedumpOf string        `json:"redump_of,omitempty"`
	// IgnoredErrors is what pg_restore counted as ignored.
	IgnoredErrors int `json:"ignored_errors,omitempty"`
}

// The string keys runs stored before typed results used.
const (
	legacyPreviousReplicas = "previous_replicas"
	legacyMaintenance      = "maintenance"
	legacyDir              = "dir"
)

func (r *ScaleResult) FromValues(v map[string]string) error {
	n, err := strconv.ParseInt(v[legacyPreviousReplicas], 10, 32)
	if err != nil {
		return report.Fail(report.NotANumber{Of: report.NumberReplicas, Value: v[legacyPreviousReplicas]}, nil)
	}
	r.Previous = int32(n)
	return nil
}

func (r *MaintenanceResult) FromValues(v map[string]string) error {
	r.On = v[legacyMaintenance] == "on"
	return nil
}

func (r *SnapshotResult) FromValues(v map[string]string) error {
	r.Dir = v[legacyDir]
	return nil
}

func (r *PullRequestResult) FromValues(v map[string]string) error {
	if v["pr_number"] != "" {
		n, err := strconv.Atoi(v["pr_number"])
		if err != nil {
			return report.Fail(report.NotANumber{Of: report.NumberPR, Value: v["pr_number"]}, nil)
		}
		r.Number = n
	}
	r.URL, r.Repo, r.BaseSHA, r.Merged = v["pr_url"], v["pr_repo"], v["pr_base_sha"], v["pr_merged"] == "true"
	return nil
}

// legacyFile reads a path, size and sha256 stored under three keys.
func legacyFile(v map[string]string, path, size, sum string) (pg.DumpResult, error) {
	f := pg.DumpResult{Path: v[path], SHA256: v[sum]}
	if v[size] != "" {
		n, err := strconv.ParseInt(v[size], 10, 64)
		if err != nil {
			return f, report.Fail(report.NotANumber{Of: report.NumberSize, Value: v[size], Path: f.Path}, nil)
		}
		f.Size = n
	}
	return f, nil
}

func (r *DumpResult) FromValues(v map[string]string) error {
	var err error
	if r.Spool, err = legacyFile(v, "path", "size", "sha256"); err != nil {
		return err
	}
	if v["staged_path"] != "" {
		r.Copy = &PodFile{Cluster: v["staged_cluster"], Pod: v["staged_pod"], Path: v["staged_path"]}
	}
	if v["dest_backup_path"] != "" {
		b := &EarlyBackup{Backup: Backup{Cluster: v["dest_backup_cluster"]}}
		if b.File, err = legacyFile(v, "dest_backup_path", "dest_backup_size", "dest_backup_sha256"); err != nil {
			return err
		}
		if b.Before, err = pg.ParseStateString(v["dest_backup_state_before"]); err != nil {
			return err
		}
		if b.After, err = pg.ParseStateString(v["dest_backup_state_after"]); err != nil {
			return err
		}
		r.Early = b
	}
	return nil
}

func (r *RestoreResult) FromValues(v map[string]string) error {
	var err error
	if r.Backup.File, err = legacyFile(v, "backup_path", "backup_size", "backup_sha256"); err != nil {
		return err
	}
	if v["backup_state"] != "" {
		st, err := pg.ParseStateString(v["backup_state"])
		if err != nil {
			return err
		}
		r.BackupState = &st
	}
	if r.RedumpOf = v["redump_of"]; r.RedumpOf != "" {
		if r.Restored, err = legacyFile(v, "path", "size", "sha256"); err != nil {
			return err
		}
	}
	return nil
}
