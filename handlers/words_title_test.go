package handlers_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
)

// Every kind of step title is worded, word for word as ops/plan wrote it before titles
// were data (Slack and `cutoverbot plan` show them; a stored run's title is text).
func TestEveryStepTitleIsWorded(t *testing.T) {
	type tf = plan.TitleFacts
	cases := map[plan.TitleKind][]struct {
		f    tf
		want string
	}{
		plan.TitlePreflight:     {{tf{}, "Preflight checks"}},
		plan.TitleScaleCelery:   {{tf{Role: plan.Destination, Name: "meshdb-celery-worker"}, "Scale destination celery to 0"}, {tf{Role: plan.Origin, Replicas: 2}, "Scale origin celery to 2"}},
		plan.TitleRestoreCelery: {{tf{Role: plan.Destination, Name: "meshdb-celery-worker"}, "Restore destination celery"}},
		plan.TitleMaintenance: {
			{tf{On: true, Role: plan.Destination}, "Maintenance on, destination"},
			{tf{On: false, Role: plan.Origin}, "Maintenance off, origin"},
			{tf{On: true}, "Maintenance on"},
		},
		plan.TitleAnnounceStart:   {{tf{Name: "start"}, "Announce the start"}},
		plan.TitleAnnounceDone:    {{tf{Name: "done"}, "Announce done"}},
		plan.TitleSnapshotPrior:   {{tf{}, "Prior snapshot"}},
		plan.TitleSnapshotPost:    {{tf{Role: plan.Destination}, "Post snapshot and diff"}},
		plan.TitleDump:            {{tf{Role: plan.Origin}, "Dump origin"}},
		plan.TitleRestore:         {{tf{Role: plan.Destination}, "Restore destination"}},
		plan.TitleVerify:          {{tf{}, "Verify database"}},
		plan.TitlePRDNS:           {{tf{Name: "dns"}, "DNS pull request"}},
		plan.TitlePRCerts:         {{tf{Name: "certs"}, "Certificate pull request"}},
		plan.TitleWaitDNS:         {{tf{}, "Wait for DNS"}},
		plan.TitleWaitTLS:         {{tf{}, "Wait for TLS"}},
		plan.TitleScale:           {{tf{Name: "meshweb", Replicas: 3, Role: plan.Origin}, "Scale meshweb to 3, origin"}, {tf{Name: "celery"}, "Scale celery to 0"}},
		plan.TitleRestoreReplicas: {{tf{Name: "meshweb", Role: plan.Destination}, "Restore meshweb replicas, destination"}, {tf{Name: "celery"}, "Restore celery replicas"}},
		plan.TitleExec: {
			{tf{Argv: []string{"python", "manage.py", "clearsessions"}, Target: "meshweb", Role: plan.Destination}, "Run python manage.py clearsessions in meshweb, destination"},
			{tf{Argv: []string{"true"}, Target: "postgres"}, "Run true in postgres"},
		},
		plan.TitleAnnounce: {{tf{Name: "start"}, "Announce start"}},
		plan.TitleStepKind: {
			{tf{StepKind: plan.KindPullRequest}, "Pull-request"},
			{tf{StepKind: plan.KindSnapshot, Role: plan.Destination}, "Snapshot, destination"},
		},
		plan.TitleUndoScale:          {{tf{Name: "meshdb-celery-worker", Role: plan.Origin}, "Undo: restore meshdb-celery-worker replicas, origin"}},
		plan.TitleUndoMaintenance:    {{tf{Role: plan.Destination}, "Undo: maintenance off, destination"}},
		plan.TitleUndoDumpCopy:       {{tf{Role: plan.Destination}, "Undo: remove the dump's copy from the destination postgres pod"}},
		plan.TitleUndoRestore:        {{tf{Role: plan.Destination}, "Undo (optional): restore the destination from its backup"}},
		plan.TitleUndoPR:             {{tf{Name: "dns"}, "Undo: revert the dns pull request"}, {tf{Name: "certs"}, "Undo: revert the certs pull request"}},
		plan.TitleUndoWaitDNS:        {{tf{}, "Undo: wait for DNS back at the origin"}},
		plan.TitleAnnounceRolledBack: {{tf{Name: "done"}, "Announce done (rolled back)"}},
	}
	for _, kind := range plan.TitleKinds() {
		tcs, ok := cases[kind]
		if !assert.True(t, ok, "title %s has a case here", kind) {
			continue
		}
		for _, tc := range tcs {
			f := tc.f
			f.Kind = kind
			assert.Equal(t, tc.want, handlers.StepTitle(plan.Step{TitleFacts: &f}), string(kind))
		}
	}
	assert.Len(t, cases, len(plan.TitleKinds()), "no case for a kind ops/plan no longer has")

	// A title a person wrote, or a step stored by an earlier version carries, is shown as written.
	assert.Equal(t, "Scale the workers down", handlers.StepTitle(plan.Step{Kind: plan.KindScale, Title: "Scale the workers down"}))
	assert.Contains(t, handlers.StepTitle(plan.Step{TitleFacts: &plan.TitleFacts{Kind: "teleport"}}), "could not word",
		"a kind without words is seen")
}
