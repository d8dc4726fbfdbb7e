package report

// Progress of running steps, as data: what a step is doing now, which the transport
// words in the step's progress message (the dump's and restore's are in dumprestore.go).

// Checking is progress: a check of preflight runs.
type Checking struct {
	Check string `json:"check"`
}

func (Checking) ReportKind() string { return "checking" }

// StoppedLeftovers is progress: what earlier attempts had left running was stopped
// before the step ran (cluster and command).
type StoppedLeftovers struct {
	What []string `json:"what"`
}

func (StoppedLeftovers) ReportKind() string { return "stopped_leftovers" }

// SQLFallback is progress: meshweb could not set the maintenance flag, so it is set in
// SQL.
type SQLFallback struct{}

func (SQLFallback) ReportKind() string { return "sql_fallback" }

// WaitingReady is progress: a snapshot waits for meshweb to answer 200. Attempt and
// Err: the attempt that did not.
type WaitingReady struct {
	Where   Where  `json:"where"`
	Attempt int    `json:"attempt,omitempty"`
	Err     string `json:"err,omitempty"`
}

func (WaitingReady) ReportKind() string { return "waiting_ready" }

// Fetching is progress: a snapshot fetches its endpoints.
type Fetching struct {
	Paths []string `json:"paths"`
	Where Where    `json:"where"`
}

func (Fetching) ReportKind() string { return "fetching" }
