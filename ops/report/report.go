// Package report holds what steps and the end of a run report, as data: each type is
// one kind of account (a scale, a verified table count, the files a run left), stored
// in the run as JSON (engine.Output.Report) and worded by the transport (handlers'
// templates, one per kind). ops/ returns these; it writes no sentence people read.
package report

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// Facts is a report's data: a type that names its kind.
type Facts interface{ ReportKind() string }

// all holds one value of each kind's type.
var all = []Facts{Checks{}, Scale{}, ScaleBack{}, Maintenance{}, Exec{}, Verify{}, Snapshot{}, NoDiff{},
	RevertNone{}, RevertUnmerged{}, Merged{}, DNS{}, TLS{}, CopyRemoved{}, Announced{}, End{}, Dump{}, Restore{},
	Dumping{}, CheckingCopy{}, Copying{}, BackingUp{}, Restoring{}, Checking{}, StoppedLeftovers{}, SQLFallback{}, WaitingReady{}, Fetching{},
	PRState{}, HeadMoved{}, AwaitingMerge{}, AwaitingRun{}, RunState{}, WaitingDNS{}, Scaling{}, TLSAttempt{}}

var kinds = func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for _, f := range all {
		m[f.ReportKind()] = reflect.TypeOf(f)
	}
	return m
}()

// Kinds lists every kind, for the transport's tests (each must have words).
func Kinds() []string {
	out := make([]string, len(all))
	for i, f := range all {
		out[i] = f.ReportKind()
	}
	return out
}

// Decode reads the facts of a kind from JSON, as a value of the kind's type.
func Decode(kind string, raw json.RawMessage) (Facts, error) {
	t, ok := kinds[kind]
	if !ok {
		return nil, fmt.Errorf("no report kind %q", kind)
	}
	v := reflect.New(t)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, v.Interface()); err != nil {
			return nil, fmt.Errorf("read a %s report: %w", kind, err)
		}
	}
	return v.Elem().Interface().(Facts), nil
}

// Checks is preflight's count of its checks.
type Checks struct {
	Total      int `json:"total"`
	Passed     int `json:"passed"`
	Warned     int `json:"warned,omitempty"`
	Overridden int `json:"overridden,omitempty"`
}

func (Checks) ReportKind() string { return "checks" }

// CountSource says where the replica count to come back to was found.
type CountSource string

const (
	// CountEarlierAttempt: an earlier attempt of the step recorded it.
	CountEarlierAttempt CountSource = "earlier_attempt"
	// CountAnnotation: the workload's annotation for the run held it.
	CountAnnotation CountSource = "annotation"
	// CountRecorded: read now, and recorded in the run and on the workload.
	CountRecorded CountSource = "recorded"
	// CountStep: the step Scale.Step recorded it.
	CountStep CountSource = "step"
)

// Scale is a workload scaled from one count to another, with the count the run comes
// back to.
type Scale struct {
	Workload string      `json:"workload"`
	Name     string      `json:"name"`
	Cluster  string      `json:"cluster"`
	From     int32       `json:"from"`
	To       int32       `json:"to"`
	Before   int32       `json:"before"` // the count before the run
	Source   CountSource `json:"source"` // where Before came from
	// Annotation names the annotation read (CountAnnotation).
	Annotation string `json:"annotation,omitempty"`
}

func (Scale) ReportKind() string { return "scale" }

// ScaleBack is a workload scaled back to the count a step recorded.
type ScaleBack struct {
	Workload   string      `json:"workload"`
	Name       string      `json:"name"`
	Cluster    string      `json:"cluster"`
	From       int32       `json:"from"`
	To         int32       `json:"to"`
	Source     CountSource `json:"source"` // CountStep or CountAnnotation
	Step       string      `json:"step,omitempty"`
	Annotation string      `json:"annotation,omitempty"`
}

func (ScaleBack) ReportKind() string { return "scale_back" }

// Maintenance is the flag as read back after setting it.
type Maintenance struct {
	On      bool   `json:"on"`
	Cluster string `json:"cluster"`
	// Via is "manage.py" (with Verb) or "sql": how it was set; Pod where.
	Via  string `json:"via"`
	Verb string `json:"verb,omitempty"`
	Pod  string `json:"pod"`
	// MeshwebErr: why the meshweb path failed (Via "sql").
	MeshwebErr string `json:"meshweb_err,omitempty"`
}

func (Maintenance) ReportKind() string { return "maintenance" }

// Exec is a command that exited 0 in a pod.
type Exec struct {
	Argv    []string `json:"argv"`
	Cluster string   `json:"cluster"`
	Pod     string   `json:"pod"`
}

func (Exec) ReportKind() string { return "exec" }

// Verify is the tables compared equal on both sides.
type Verify struct {
	Tables      int    `json:"tables"`
	Rows        int64  `json:"rows"`
	Origin      string `json:"origin"`
	Destination string `json:"destination"`
}

func (Verify) ReportKind() string { return "verify" }

// Where is how a snapshot reached meshweb: the public URL, or a cluster's load
// balancer.
type Where struct {
	URL     string `json:"url,omitempty"`
	Cluster string `json:"cluster,omitempty"`
	LB      string `json:"lb,omitempty"` // set when through a load balancer
}

// SnapshotFile is one endpoint fetched.
type SnapshotFile struct {
	Name    string `json:"name"`
	Entries int    `json:"entries"`
	Bytes   int64  `json:"bytes"`
}

// Snapshot is what a snapshot fetched.
type Snapshot struct {
	Where Where `json:"where"`
	// ReadyAttempt is the attempt meshweb first answered 200 on, when not the first.
	ReadyAttempt int            `json:"ready_attempt,omitempty"`
	Files        []SnapshotFile `json:"files"`
}

func (Snapshot) ReportKind() string { return "snapshot" }

// Endpoint is one endpoint of a diff that found no difference.
type Endpoint struct {
	Name   string `json:"name"`
	Before int    `json:"before"`
	After  int    `json:"after"`
	// Repeated counts the keys held by more than one entry (compared as multisets).
	Repeated int `json:"repeated,omitempty"`
}

// NoDiff is a snapshot that found no difference from the one it was compared with.
type NoDiff struct {
	ReadyAttempt int        `json:"ready_attempt,omitempty"`
	Endpoints    []Endpoint `json:"endpoints"`
}

func (NoDiff) ReportKind() string { return "no_diff" }

// RevertNone: the step to revert opened no pull request.
type RevertNone struct {
	Step string `json:"step"`
}

func (RevertNone) ReportKind() string { return "revert_none" }

// RevertUnmerged: the pull request to revert was not merged.
type RevertUnmerged struct {
	URL string `json:"url"`
}

func (RevertUnmerged) ReportKind() string { return "revert_unmerged" }

// Merged is a merged pull request and, when the plan waits for it, the workflow run
// its merge started, which succeeded.
type Merged struct {
	URL      string `json:"url"`
	Workflow string `json:"workflow,omitempty"`
	RunURL   string `json:"run_url,omitempty"`
}

func (Merged) ReportKind() string { return "merged" }

// DNS is a name answered as wanted by every resolver.
type DNS struct {
	Name      string   `json:"name"`
	Want      string   `json:"want"`
	Resolvers int      `json:"resolvers"`
	Answers   []Answer `json:"answers,omitempty"` // each resolver's (its details)
}

func (DNS) ReportKind() string { return "dns" }

// TLS is a certificate that verifies.
type TLS struct {
	Address    string    `json:"address"`
	ServerName string    `json:"server_name"`
	SANs       []string  `json:"sans"`
	Issuer     string    `json:"issuer"`
	NotAfter   time.Time `json:"not_after"`
}

func (TLS) ReportKind() string { return "tls" }

// CopyRemoved is the dump's copy removed from a cluster's pods (Pods empty: no pod was
// left that could hold it).
type CopyRemoved struct {
	Path    string   `json:"path"`
	Cluster string   `json:"cluster"`
	Pods    []string `json:"pods,omitempty"`
	// NowErr: why no postgres pod was found in Cluster now; Gone: the pods where the
	// dump step copied it that could not be reached (a pod that is gone took its /tmp
	// with it).
	NowErr string   `json:"now_err,omitempty"`
	Gone   []PodErr `json:"gone,omitempty"`
}

// PodErr is a pod and why it could not be reached.
type PodErr struct {
	Pod string `json:"pod"`
	Err string `json:"err"`
}

func (CopyRemoved) ReportKind() string { return "copy_removed" }

// Announced is an announcement posted top-level in the channel.
type Announced struct {
	Template string `json:"template"`
	Channel  string `json:"channel"`
}

func (Announced) ReportKind() string { return "announced" }

// HumanBytes renders a size in binary units (KiB, MiB, GiB), as every account of a
// size does, in Slack and in the terminal.
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
