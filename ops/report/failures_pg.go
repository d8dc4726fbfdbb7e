package report

import "time"

// Failure kinds of ops/pg: a command in the pod or a local file that failed, an answer
// that was not what was asked, a dump or a restore that did not finish. Text that is
// not ours (a tool's stderr, pg_restore's log) is a field or the cause, as it came.

// PodCommandOf names a command run in a pod.
type PodCommandOf string

const (
	CommandStage           PodCommandOf = "stage"            // copy the dump into the pod (Path)
	CommandStageStream     PodCommandOf = "stage_stream"     // the copy into the pod as the dump runs (Path)
	CommandStageEnded      PodCommandOf = "stage_ended"      // that copy ended before the dump did (Path)
	CommandSHA256          PodCommandOf = "sha256sum"        // sha256sum of the copy (Path)
	CommandRemove          PodCommandOf = "remove"           // rm -f Path
	CommandState           PodCommandOf = "state"            // read the state of Database
	CommandMaintenanceRead PodCommandOf = "maintenance_read" // read MAINTENANCE_MODE in Database
	CommandMaintenanceSet  PodCommandOf = "maintenance_set"  // set MAINTENANCE_MODE in SQL
	CommandResources       PodCommandOf = "resources"        // read the pod's cores and memory
	CommandWorkMem         PodCommandOf = "work_mem"         // read maintenance_work_mem
	CommandStopProcesses   PodCommandOf = "stop_processes"   // stop what earlier attempts left
	CommandEndSessions     PodCommandOf = "end_sessions"     // end their database sessions
	CommandFingerprint     PodCommandOf = "fingerprint"      // fingerprint the tables of Database
)

// PodCommand: a command in a pod (Of) failed; the cause is how it ended, Stderr its
// last words.
type PodCommand struct {
	Of       PodCommandOf `json:"of"`
	Path     string       `json:"path,omitempty"`
	Database string       `json:"database,omitempty"`
	Stderr   string       `json:"stderr,omitempty"`
}

func (PodCommand) ReportKind() string { return "failed_pod_command" }

// AnswerOf names a question whose answer was not understood.
type AnswerOf string

const (
	AnswerState         AnswerOf = "state"          // psql's answer to the state query
	AnswerRecordedState AnswerOf = "recorded_state" // a state recorded by an earlier version (the cause: why)
	AnswerMaintenance   AnswerOf = "maintenance"    // MAINTENANCE_MODE's value in Database
	AnswerNproc         AnswerOf = "nproc"          // the pod's cores
	AnswerWorkMem       AnswerOf = "work_mem"       // maintenance_work_mem
	AnswerFingerprint   AnswerOf = "fingerprint"    // a fingerprint line from psql
	AnswerStagedSize    AnswerOf = "staged_size"    // the size of the copy in the pod (Path)
)

// UnexpectedAnswer: the answer to a question (Of) was Said, not one the bot reads.
type UnexpectedAnswer struct {
	Of       AnswerOf `json:"of"`
	Said     string   `json:"said"`
	Database string   `json:"database,omitempty"`
	Path     string   `json:"path,omitempty"`
}

func (UnexpectedAnswer) ReportKind() string { return "failed_unexpected_answer" }

// SpoolFileOf names what was done to a file of the bot's spool.
type SpoolFileOf string

const (
	SpoolRemoveOld SpoolFileOf = "remove_old" // remove a file an earlier attempt left at Path
	SpoolCreate    SpoolFileOf = "create"
	SpoolWrite     SpoolFileOf = "write"
	SpoolFsync     SpoolFileOf = "fsync"
	SpoolClose     SpoolFileOf = "close"
	SpoolMove      SpoolFileOf = "move" // Path to To
	SpoolOpen      SpoolFileOf = "open" // open the dump to copy it
)

// SpoolFile: a file of the spool (Path) could not be handled (Of); the cause is the
// system's.
type SpoolFile struct {
	Of   SpoolFileOf `json:"of"`
	Path string      `json:"path"`
	To   string      `json:"to,omitempty"`
}

func (SpoolFile) ReportKind() string { return "failed_spool_file" }

// RemotePath: a path in a pod was refused before anything ran: it must be absolute
// and plain (it goes inside a shell's quotes and to rm).
type RemotePath struct {
	Path string `json:"path"`
}

func (RemotePath) ReportKind() string { return "failed_remote_path" }

// BadMagic: the dump stream is not a custom-format archive (pg.ErrBadMagic): it
// starts with Head, and was cut there (Cut) or ended after Bytes.
type BadMagic struct {
	Head  string `json:"head"`
	Bytes int64  `json:"bytes,omitempty"`
	Cut   bool   `json:"cut,omitempty"`
}

func (BadMagic) ReportKind() string { return "failed_bad_magic" }

// DumpExit: pg_dump (Command) failed after Bytes bytes and no dump was kept; the cause
// is how it ended, Stderr its last words.
type DumpExit struct {
	Command string `json:"command"`
	Bytes   int64  `json:"bytes"`
	Stderr  string `json:"stderr,omitempty"`
}

func (DumpExit) ReportKind() string { return "failed_dump_exit" }

// DumpStopped: the dump was stopped (the cause) after Bytes bytes; no dump was kept.
type DumpStopped struct {
	Bytes int64 `json:"bytes"`
}

func (DumpStopped) ReportKind() string { return "failed_dump_stopped" }

// PgRestoreHow says how pg_restore failed.
type PgRestoreHow string

const (
	// RestoreLostServer: it lost the database server part-way; the destination may be
	// half-restored.
	RestoreLostServer PgRestoreHow = "lost_server"
	// RestoreUnfinished: it exited (the cause) without saying it finished.
	RestoreUnfinished PgRestoreHow = "unfinished"
	// RestoreFatal: it said it failed.
	RestoreFatal PgRestoreHow = "fatal"
)

// PgRestore: pg_restore into Database failed (How); Log is the end of what it said.
type PgRestore struct {
	Database string       `json:"database"`
	How      PgRestoreHow `json:"how"`
	Log      string       `json:"log"`
}

func (PgRestore) ReportKind() string { return "failed_pg_restore" }

// StageStalled: the pod took no data for Stall, so the copy into it was given up.
type StageStalled struct {
	Stall time.Duration `json:"stall"`
}

func (StageStalled) ReportKind() string { return "failed_stage_stalled" }

// StageExited: the command copying into the pod exited before the end of the stream.
type StageExited struct{}

func (StageExited) ReportKind() string { return "failed_stage_exited" }

// StageShort: the copy in the pod (Path) holds Got bytes; Sent were sent of a
// Size-byte dump.
type StageShort struct {
	Path string `json:"path"`
	Got  int64  `json:"got"`
	Sent int64  `json:"sent"`
	Size int64  `json:"size"`
}

func (StageShort) ReportKind() string { return "failed_stage_short" }

// SessionsLeft: database sessions of earlier attempts (application_name starting
// with Prefix) were still there after pg_terminate_backend (the cause: the wait's).
type SessionsLeft struct {
	Prefix string `json:"prefix"`
}

func (SessionsLeft) ReportKind() string { return "failed_sessions_left" }
