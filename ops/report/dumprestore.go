package report

import "fmt"

// What the dump and restore steps report: the files moved, the copy made in the
// destination pod, the backup of the destination kept for undo and how it was had,
// and how pg_restore ran.

// DBState is a database's state as read around a backup (ops/pg.State).
type DBState struct {
	NextXid    string `json:"next_xid"`
	RowChanges int64  `json:"row_changes"`
	OpenWrites int64  `json:"open_writes"`
	Sequences  string `json:"sequences"`
}

// DumpBackup is the backup of the destination the dump step took meanwhile.
type DumpBackup struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Second: the state moved during a first attempt, so this is the second.
	Second bool `json:"second,omitempty"`
	// Changed: the destination may have changed while it was taken.
	Changed bool `json:"changed,omitempty"`
	// NoPodCopy says why no copy is on the destination's postgres volume ("": one is).
	NoPodCopy string `json:"no_pod_copy,omitempty"`
}

// Dump is a dump of Database from Cluster into the spool (magic checked, fsynced) and,
// when the plan restores it into Dest, what was done there meanwhile.
type Dump struct {
	Database string `json:"database"`
	Cluster  string `json:"cluster"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	Dest     string `json:"dest,omitempty"`
	// DestErr: no postgres pod was found in Dest; nothing was done there.
	DestErr string `json:"dest_err,omitempty"`
	// CopyPod and CopyPath: where the copy went as it came (CopyNamespace and
	// CopyContainer: how to reach it by hand); CopyErr: why it did not.
	CopyPod       string `json:"copy_pod,omitempty"`
	CopyPath      string `json:"copy_path,omitempty"`
	CopyNamespace string `json:"copy_namespace,omitempty"`
	CopyContainer string `json:"copy_container,omitempty"`
	CopyErr       string `json:"copy_err,omitempty"`
	// Backup of Dest taken meanwhile; BackupErr: why none was.
	Backup    *DumpBackup `json:"backup,omitempty"`
	BackupErr string      `json:"backup_err,omitempty"`
}

func (Dump) ReportKind() string { return "dump" }

// Found is where a recorded backup was checked again (sha256) before it was used.
type Found struct {
	Cluster string `json:"cluster"`
	Spool   bool   `json:"spool,omitempty"`   // in this replica's spool
	InPod   string `json:"in_pod,omitempty"`  // on Cluster's postgres volume, at this path
	PodErr  string `json:"pod_err,omitempty"` // why not on the volume (Spool only; "": no copy was kept)
	Replica string `json:"replica,omitempty"` // the replica whose spool holds it (InPod only)
}

// BackupSource says how the restore had the backup of the old data it keeps.
type BackupSource string

const (
	// BackupKept: an earlier attempt recorded it (Found: where it was checked again).
	BackupKept BackupSource = "kept"
	// BackupEarly: the dump step took it and the database has not changed since (Now).
	BackupEarly BackupSource = "early"
	// BackupFresh: the undo took it of the database as it was, kept in case.
	BackupFresh BackupSource = "fresh"
	// The backup was taken now: the dump step took none.
	BackupNone BackupSource = "none"
	// Taken now: the dump step backed up EarlyCluster.
	BackupOtherCluster BackupSource = "other_cluster"
	// Taken again: the state moved while the dump step took it (Before, After).
	BackupMoved BackupSource = "moved"
	// Taken again: the dump step's backup is not on this replica (Err: nor its copy
	// on the volume, which failed its check).
	BackupNotHere BackupSource = "not_here"
	// Taken again: the state could not be read (Err).
	BackupStateUnread BackupSource = "state_unread"
	// Taken again: the database changed since the dump step (After, Now).
	BackupChanged BackupSource = "changed"
	// Taken again: write transactions are open (Now.OpenWrites).
	BackupWrites BackupSource = "writes"
)

// BackupHow is how the restore had the backup of the old data of Cluster.
type BackupHow struct {
	Cluster      string       `json:"cluster"`
	Source       BackupSource `json:"source"`
	Found        *Found       `json:"found,omitempty"`
	EarlyCluster string       `json:"early_cluster,omitempty"`
	Before       *DBState     `json:"before,omitempty"`
	After        *DBState     `json:"after,omitempty"`
	Now          *DBState     `json:"now,omitempty"`
	Err          string       `json:"err,omitempty"`
	// NoPodCopy says why the backup taken now has no copy on the postgres volume.
	NoPodCopy string `json:"no_pod_copy,omitempty"`
}

// NoteKind names a note of the restore about the file it restored.
type NoteKind string

const (
	// NoteCopyElsewhere: the dump step's copy (Path in Cluster) is not where the
	// restore reads.
	NoteCopyElsewhere NoteKind = "copy_elsewhere"
	// NoteCopyPodReplaced: the copy is in Pod, the postgres pod is now NowPod.
	NoteCopyPodReplaced NoteKind = "copy_pod_replaced"
	// NoteCopyUsed: the copy in Pod was used (NoSpool: the spool was not on this replica).
	NoteCopyUsed NoteKind = "copy_used"
	// NoteCopyFailed: the copy in Pod failed its check (Err).
	NoteCopyFailed NoteKind = "copy_failed"
	// NoteCopiedAgain: copied in again from the spool.
	NoteCopiedAgain NoteKind = "copied_again"
	// NoteRedumped: the spool was not on this replica; Cluster was dumped again (Size, SHA256).
	NoteRedumped NoteKind = "redumped"
	// NoteRestoredBackup: the undo restored the backup, checked again where Found says.
	NoteRestoredBackup NoteKind = "restored_backup"
)

// Note is one note of the restore.
type Note struct {
	Kind    NoteKind `json:"kind"`
	Cluster string   `json:"cluster,omitempty"`
	Path    string   `json:"path,omitempty"`
	Pod     string   `json:"pod,omitempty"`
	NowPod  string   `json:"now_pod,omitempty"`
	NoSpool bool     `json:"no_spool,omitempty"`
	Err     string   `json:"err,omitempty"`
	Size    int64    `json:"size,omitempty"`
	SHA256  string   `json:"sha256,omitempty"`
	Found   *Found   `json:"found,omitempty"`
}

// Resources is what a pod may use (ops/pg.PodResources).
type Resources struct {
	Cores int `json:"cores"`
	// CPULimit is the CPU limit when it, not nproc, sets Cores.
	CPULimit float64 `json:"cpu_limit,omitempty"`
	MemLimit int64   `json:"mem_limit,omitempty"` // bytes
	MemTotal int64   `json:"mem_total,omitempty"` // the node's, bytes
}

// Jobs is how pg_restore ran: its jobs, and the maintenance_work_mem of its sessions.
type Jobs struct {
	Jobs int `json:"jobs"`
	// Resources: the jobs were chosen for what the pod may use; ResourcesErr: the pod
	// could not say (one job).
	Resources    *Resources `json:"resources,omitempty"`
	ResourcesErr string     `json:"resources_err,omitempty"`
	// MemKB: set in its sessions; ServerMemKB: left at the server's, which is at
	// least what would have been set; MemErr: left as the server has it.
	MemKB       int64  `json:"mem_kb,omitempty"`
	ServerMemKB int64  `json:"server_mem_kb,omitempty"`
	MemErr      string `json:"mem_err,omitempty"`
}

// Restore is a file restored into Cluster (sha256 checked in the pod), with the backup
// of the old data kept for undo.
type Restore struct {
	Cluster      string    `json:"cluster"`
	Size         int64     `json:"size"`
	SHA256       string    `json:"sha256"`
	BackupSize   int64     `json:"backup_size"`
	BackupSHA256 string    `json:"backup_sha256"`
	Backup       BackupHow `json:"backup"`
	Notes        []Note    `json:"notes,omitempty"`
	Jobs         Jobs      `json:"jobs"`
	// IgnoredErrors is how many errors pg_restore ignored (the details list them).
	IgnoredErrors int `json:"ignored_errors,omitempty"`
}

func (Restore) ReportKind() string { return "restore" }

// KB writes a PostgreSQL memory setting in kB the way SHOW does.
func KB(kb int64) string {
	switch {
	case kb%(1<<20) == 0:
		return fmt.Sprintf("%dGB", kb>>20)
	case kb%(1<<10) == 0:
		return fmt.Sprintf("%dMB", kb>>10)
	}
	return fmt.Sprintf("%dkB", kb)
}

// Dumping is progress: pg_dump of Database from Cluster's pod Pod into the spool and,
// with DestPod, into Dest's pod as it comes. Again: the dump spool was not on this
// replica, so the restore dumps the origin again; else Dest is backed up meanwhile.
type Dumping struct {
	Database string `json:"database"`
	Cluster  string `json:"cluster"`
	Pod      string `json:"pod"`
	Dest     string `json:"dest,omitempty"`
	DestPod  string `json:"dest_pod,omitempty"`
	Again    bool   `json:"again,omitempty"`
}

func (Dumping) ReportKind() string { return "dumping" }

// CheckingCopy is progress: the sha256 of the dump's copy in Pod is checked.
type CheckingCopy struct {
	Pod string `json:"pod"`
}

func (CheckingCopy) ReportKind() string { return "checking_copy" }

// Copying is progress: a file of Size bytes is copied into Pod.
type Copying struct {
	Size int64  `json:"size"`
	Pod  string `json:"pod"`
}

func (Copying) ReportKind() string { return "copying" }

// BackingUp is progress: the restore backs up the old data, taken now for why says
// (BackupFresh: the undo backs up the database as it is now, kept in case).
type BackingUp struct {
	Why BackupHow `json:"why"`
}

func (BackingUp) ReportKind() string { return "backing_up" }

// Restoring is progress: pg_restore runs in Cluster.
type Restoring struct {
	Cluster string `json:"cluster"`
	Jobs    Jobs   `json:"jobs"`
}

func (Restoring) ReportKind() string { return "restoring" }
