package report

import "time"

// Failure kinds of ops/snapshot and ops/tlswait: a GET of meshweb that failed, a wait
// for meshweb to answer 200 that ended, a TLS handshake that failed, a wait for a
// valid certificate that ended. The cause is the connection's error, where there is one.

// SnapshotGetHow says how a GET of meshweb failed.
type SnapshotGetHow string

const (
	SnapshotCall        SnapshotGetHow = "call"        // no answer, or one that is not a JSON array (the cause)
	SnapshotStatus      SnapshotGetHow = "status"      // answered Status, not 200 (Body: the start of what it said)
	SnapshotUnready     SnapshotGetHow = "unready"     // the LB answered Status (502, 503, 504): no meshweb pod is ready
	SnapshotMaintenance SnapshotGetHow = "maintenance" // the maintenance redirect to Location (snapshot.ErrMaintenance)
	SnapshotBody        SnapshotGetHow = "body"        // the body could not be read to its end (the cause)
)

// SnapshotGet: GET Path of meshweb via Where (the public URL, or a cluster's LB) failed
// (How); NotReady: said of an answer worth waiting out (unready, a connection that
// failed) while meshweb's pods come back.
type SnapshotGet struct {
	How      SnapshotGetHow `json:"how"`
	Path     string         `json:"path"`
	Where    string         `json:"where"`
	NotReady bool           `json:"not_ready,omitempty"`
	Status   string         `json:"status,omitempty"`
	Body     string         `json:"body,omitempty"`
	Location string         `json:"location,omitempty"`
}

func (SnapshotGet) ReportKind() string { return "failed_snapshot_get" }

// MeshwebNotReady: meshweb did not answer 200 via Where within Timeout (Requests
// made); the cause is the last answer.
type MeshwebNotReady struct {
	Where    string        `json:"where"`
	Timeout  time.Duration `json:"timeout"`
	Requests int           `json:"requests"`
}

func (MeshwebNotReady) ReportKind() string { return "failed_meshweb_not_ready" }

// TLSHandshake: a verified TLS handshake with Address as ServerName failed (the
// cause), or the server presented no certificate (NoCert).
type TLSHandshake struct {
	Address    string `json:"address,omitempty"`
	ServerName string `json:"server_name,omitempty"`
	NoCert     bool   `json:"no_cert,omitempty"`
}

func (TLSHandshake) ReportKind() string { return "failed_tls_handshake" }

// TLSWait: no certificate valid for ServerName at Address within Timeout (Attempts
// made); the cause is the last attempt's error.
type TLSWait struct {
	ServerName string        `json:"server_name"`
	Address    string        `json:"address"`
	Timeout    time.Duration `json:"timeout"`
	Attempts   int           `json:"attempts"`
}

func (TLSWait) ReportKind() string { return "failed_tls_wait" }
