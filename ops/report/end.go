package report

import "time"

// End is what the end of a run reports: the files it could not remove from the pods
// (they hold members' data) and the backups it keeps until KeptUntil. Empty when
// there is nothing to say.
type End struct {
	Leftovers []Leftover   `json:"leftovers,omitempty"`
	Backups   []KeptBackup `json:"backups,omitempty"`
	KeptUntil time.Time    `json:"kept_until,omitzero"`
}

func (End) ReportKind() string { return "end" }

// Empty says there is nothing to report.
func (e End) Empty() bool { return len(e.Leftovers) == 0 && len(e.Backups) == 0 }

// Leftover is a file the bot could not remove from a pod. Pod is empty when no
// postgres pod was found in the cluster at all.
type Leftover struct {
	Path      string `json:"path"`
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
	Err       string `json:"err"`
}

// KeptBackup is a backup of the destination the run keeps for a while: in the spool
// of a bot replica, and maybe on the postgres pod's volume.
type KeptBackup struct {
	File    string `json:"file"` // the file's name in the spool
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"`
	Replica string `json:"replica"`
	// PodCluster and PodPath say where its copy on the postgres volume is, if any.
	PodCluster string `json:"pod_cluster,omitempty"`
	PodPath    string `json:"pod_path,omitempty"`
}
