package report

// The snapshot diff that found differences, as data (ops/snapshot's Report.Facts): a
// line of counts per endpoint, then the first few differences, for the thread; the
// whole diff is the step's details file.

// DiffHow says what became of an entry.
type DiffHow string

const (
	DiffChanged DiffHow = "changed"
	DiffAdded   DiffHow = "added"
	DiffRemoved DiffHow = "removed"
)

// DiffField is one field of a changed entry, its values as JSON (clipped).
type DiffField struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// KeyRepeat says a key is held by more than one entry: Before and After of them.
type KeyRepeat struct {
	Before int `json:"before"`
	After  int `json:"after"`
}

// DiffItem is one difference: the entry under Key (which of them, Entry, when Repeat
// says the key is repeated and it was added or removed) was changed (Fields), added or
// removed.
type DiffItem struct {
	How    DiffHow     `json:"how"`
	Key    string      `json:"key"`
	Repeat *KeyRepeat  `json:"repeat,omitempty"`
	Entry  string      `json:"entry,omitempty"`
	Fields []DiffField `json:"fields,omitempty"`
}

// DiffEndpoint is the difference in one endpoint: its entries Before and After, how
// many were Added, Removed and Changed, how many keys are Repeated (compared as
// multisets), or that it is Missing from the post snapshot; Items are the first
// differences shown.
type DiffEndpoint struct {
	Name     string     `json:"name"`
	Before   int        `json:"before"`
	After    int        `json:"after,omitempty"`
	Missing  bool       `json:"missing,omitempty"`
	Added    int        `json:"added,omitempty"`
	Removed  int        `json:"removed,omitempty"`
	Changed  int        `json:"changed,omitempty"`
	Repeated int        `json:"repeated,omitempty"`
	Items    []DiffItem `json:"items,omitempty"`
}

// SnapshotDiffers: the post snapshot differs from the prior one.
type SnapshotDiffers struct {
	Endpoints []DiffEndpoint `json:"endpoints"`
}

func (SnapshotDiffers) ReportKind() string { return "failed_snapshot_differs" }
