package plan

// TitleKind names how a step's title is worded (handlers' plan.tmpl, "title/<kind>").
type TitleKind string

const (
	// The default plan's steps (DefaultSpecs).
	TitlePreflight     TitleKind = "preflight"      // -
	TitleScaleCelery   TitleKind = "scale_celery"   // Role, Replicas
	TitleRestoreCelery TitleKind = "restore_celery" // Role
	TitleMaintenance   TitleKind = "maintenance"    // On, Role ("" when the step acts on no cluster)
	TitleAnnounceStart TitleKind = "announce_start" // -
	TitleAnnounceDone  TitleKind = "announce_done"  // -
	TitleSnapshotPrior TitleKind = "snapshot_prior" // -
	TitleSnapshotPost  TitleKind = "snapshot_post"  // -
	TitleDump          TitleKind = "dump"           // Role
	TitleRestore       TitleKind = "restore"        // Role
	TitleVerify        TitleKind = "verify"         // -
	TitlePRDNS         TitleKind = "pr_dns"         // -
	TitlePRCerts       TitleKind = "pr_certs"       // -
	TitleWaitDNS       TitleKind = "wait_dns"       // -
	TitleWaitTLS       TitleKind = "wait_tls"       // -

	// A configured step without a title.
	TitleScale           TitleKind = "scale"            // Name, Replicas, Role
	TitleRestoreReplicas TitleKind = "restore_replicas" // Name, Role
	TitleExec            TitleKind = "exec"             // Argv, Target, Role
	TitleAnnounce        TitleKind = "announce"         // Name: the announcement's template
	TitleStepKind        TitleKind = "step_kind"        // StepKind, Role

	// Rollback steps (Rollback).
	TitleUndoScale          TitleKind = "undo_scale"           // Name, Role
	TitleUndoMaintenance    TitleKind = "undo_maintenance"     // Role
	TitleUndoDumpCopy       TitleKind = "undo_dump_copy"       // Role: where the copy is
	TitleUndoRestore        TitleKind = "undo_restore"         // -
	TitleUndoPR             TitleKind = "undo_pr"              // Name: the pull request's change
	TitleUndoWaitDNS        TitleKind = "undo_wait_dns"        // -
	TitleAnnounceRolledBack TitleKind = "announce_rolled_back" // -
)

// TitleKinds lists every kind, for the transport's tests (each must have words).
func TitleKinds() []TitleKind {
	return []TitleKind{TitlePreflight, TitleScaleCelery, TitleRestoreCelery, TitleMaintenance, TitleAnnounceStart, TitleAnnounceDone,
		TitleSnapshotPrior, TitleSnapshotPost, TitleDump, TitleRestore, TitleVerify, TitlePRDNS, TitlePRCerts, TitleWaitDNS, TitleWaitTLS,
		TitleScale, TitleRestoreReplicas, TitleExec, TitleAnnounce, TitleStepKind,
		TitleUndoScale, TitleUndoMaintenance, TitleUndoDumpCopy, TitleUndoRestore, TitleUndoPR, TitleUndoWaitDNS, TitleAnnounceRolledBack}
}

// TitleFacts is what a step's title says, as data: the transport words it, in Slack
// and in the terminal alike. A title a person wrote in the configuration stays text
// (Step.Title), and so does the title of a step stored by an earlier version.
type TitleFacts struct {
	Kind TitleKind `json:"kind"`
	Role Role      `json:"role,omitempty"`
	// Name is the workload's name, an announcement's template or a pull request's change.
	Name     string   `json:"name,omitempty"`
	Replicas int32    `json:"replicas,omitempty"`
	On       bool     `json:"on,omitempty"`
	Target   string   `json:"target,omitempty"`
	Argv     []string `json:"argv,omitempty"`
	StepKind Kind     `json:"step_kind,omitempty"`
}

// titleOf is the title of kind for step s, with the step's facts a title may name.
func titleOf(kind TitleKind, s Step) *TitleFacts {
	t := &TitleFacts{Kind: kind, Role: s.Role}
	switch {
	case s.Scale != nil:
		t.Name = s.Scale.Name
		if s.Scale.Replicas != nil {
			t.Replicas = *s.Scale.Replicas
		}
	case s.Maintenance != nil:
		t.On = s.Maintenance.On
	case s.Exec != nil:
		t.Target, t.Argv = s.Exec.Target, s.Exec.Argv
	case s.Announce != nil:
		t.Name = s.Announce.Template
	case s.PullRequest != nil:
		t.Name = s.PullRequest.Change
	}
	if kind == TitleStepKind {
		t.StepKind = s.Kind
	}
	return t
}

// defaultTitles are the titles of the default plan's steps, by ID.
var defaultTitles = map[string]TitleKind{
	"preflight":                   TitlePreflight,
	"scale-destination-celery":    TitleScaleCelery,
	"maintenance-on-destination":  TitleMaintenance,
	"announce-start":              TitleAnnounceStart,
	"scale-origin-celery":         TitleScaleCelery,
	"snapshot-prior":              TitleSnapshotPrior,
	"maintenance-on-origin":       TitleMaintenance,
	"dump-origin":                 TitleDump,
	"restore-destination":         TitleRestore,
	"verify-database":             TitleVerify,
	"maintenance-off-destination": TitleMaintenance,
	"snapshot-post":               TitleSnapshotPost,
	"pr-dns":                      TitlePRDNS,
	"wait-dns":                    TitleWaitDNS,
	"pr-certs":                    TitlePRCerts,
	"wait-tls":                    TitleWaitTLS,
	"restore-destination-celery":  TitleRestoreCelery,
	"announce-done":               TitleAnnounceDone,
}

// genericTitle is the title of a configured step whose spec gives none.
func genericTitle(s Step) *TitleFacts {
	switch s.Kind {
	case KindScale:
		if s.Scale.Replicas != nil {
			return titleOf(TitleScale, s)
		}
		return titleOf(TitleRestoreReplicas, s)
	case KindMaintenance:
		return titleOf(TitleMaintenance, s)
	case KindExec:
		return titleOf(TitleExec, s)
	case KindAnnounce:
		return titleOf(TitleAnnounce, s)
	}
	return titleOf(TitleStepKind, s)
}
