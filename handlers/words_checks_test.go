package handlers_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// checkReportCases are what preflight's checks found, worded as the checks wrote it
// themselves before they returned data (TestEveryReportIsWorded renders each).
func checkReportCases() map[string][]reportCase {
	return map[string][]reportCase{
		"check_reachable": {{report.CheckReachable{Clusters: []string{"prod2", "prod1"}}, "prod2 answers; prod1 answers"}},
		"check_pods": {{report.CheckPods{Clusters: []report.ClusterPods{
			{Cluster: "prod2", Meshweb: "meshdb-meshweb-7c9d-abcde", Postgres: "meshdb-postgres-0"},
			{Cluster: "prod1", Meshweb: "meshdb-meshweb-5f6a-fghij", Postgres: "meshdb-postgres-0"}}},
			"prod2: meshdb-meshweb-7c9d-abcde, meshdb-postgres-0; prod1: meshdb-meshweb-5f6a-fghij, meshdb-postgres-0"}},
		"check_celery": {{report.CheckCelery{StatefulSets: []report.ClusterWorkload{{Cluster: "prod2", Name: "meshdb-celery"}, {Cluster: "prod1", Name: "meshdb-celery"}}},
			"prod2/meshdb-celery; prod1/meshdb-celery"}},
		"check_digests": {{report.CheckDigests{Digest: "sha256:4f2a"}, "sha256:4f2a"}},
		"check_digests_differ": {{report.CheckDigestsDiffer{Origin: "prod2", OriginDigest: "sha256:4f2a", Destination: "prod1", DestinationDigest: "sha256:9b1c"},
			"prod2 runs sha256:4f2a but prod1 runs sha256:9b1c: the restore gives prod1 the database of prod2 as migrated by its MeshDB; if that is older, restart meshweb in prod1 after the restore (it runs manage.py migrate as it starts)"}},
	}
}

// A check line shows what the check found as data, in words; a line stored by an
// earlier version (or a check that returns words) shows its message.
func TestCheckMessageWordsItsReport(t *testing.T) {
	l := engine.CheckLine{ID: "clusters-reachable", Name: "clusters reachable", Outcome: engine.CheckPassed,
		Report: engine.ReportOf(report.CheckReachable{Clusters: []string{"prod2", "prod1"}})}
	assert.Equal(t, "prod2 answers; prod1 answers", handlers.CheckMessage(l))
	l.Report, l.Message = nil, "prod2 answers; prod1 answers"
	assert.Equal(t, "prod2 answers; prod1 answers", handlers.CheckMessage(l), "a line stored before checks reported data")
}
