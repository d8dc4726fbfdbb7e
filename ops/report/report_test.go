package report_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Each kind comes back from the JSON stored in a run as the value it was, and a kind
// this version does not know is an error, not an empty account.
func TestEveryKindDecodesAsStored(t *testing.T) {
	facts := []report.Facts{
		report.Checks{Total: 8, Passed: 5, Warned: 1, Overridden: 2},
		report.CheckReachable{Clusters: []string{"prod2", "prod1"}},
		report.CheckPods{Clusters: []report.ClusterPods{{Cluster: "prod2", Meshweb: "w", Postgres: "p"}}},
		report.CheckCelery{StatefulSets: []report.ClusterWorkload{{Cluster: "prod2", Name: "celery"}}},
		report.CheckDigests{Digest: "sha256:1"},
		report.CheckDigestsDiffer{Origin: "prod2", OriginDigest: "sha256:1", Destination: "prod1", DestinationDigest: "sha256:2"},
		report.CheckPermissions{Count: 12, Clusters: []string{"prod2", "prod1"}},
		report.CheckDeployed{Environment: "prod1", Repo: "r", Branch: "main", SHA: "s"},
		report.CheckNoDeploy{Workflow: "w", Repo: "r"},
		report.CheckDNS{Name: "n", Target: "t", Resolvers: 3},
		report.CheckWorkflows{Workflows: []report.WorkflowFound{{Repo: "r", Workflow: "w", Branch: "main", Environment: "prod1", Jobs: []string{"j"}}}},
		report.Scale{Workload: "statefulset", Name: "w", Cluster: "prod1", From: 1, To: 0, Before: 1, Source: report.CountAnnotation, Annotation: "a"},
		report.ScaleBack{Workload: "statefulset", Name: "w", Cluster: "prod1", To: 1, Source: report.CountStep, Step: "s"},
		report.Maintenance{On: true, Cluster: "prod1", Via: "manage.py", Verb: "enable_flag", Pod: "p"},
		report.Exec{Argv: []string{"true"}, Cluster: "prod1", Pod: "p"},
		report.Verify{Tables: 14, Rows: 1 << 40, Origin: "prod2", Destination: "prod1"},
		report.Snapshot{Where: report.Where{Cluster: "prod1", LB: "1.2.3.4:443"}, ReadyAttempt: 3, Files: []report.SnapshotFile{{Name: "n", Entries: 1, Bytes: 2}}},
		report.NoDiff{Endpoints: []report.Endpoint{{Name: "n", Before: 1, After: 1, Repeated: 1}}},
		report.RevertNone{Step: "pr-dns"},
		report.RevertUnmerged{URL: "u"},
		report.Merged{URL: "u", Workflow: "w", RunURL: "r"},
		report.DNS{Name: "n", Want: "w", Resolvers: 3},
		report.TLS{Address: "a", ServerName: "s", SANs: []string{"s"}, Issuer: "i", NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		report.CopyRemoved{Path: "/tmp/x", Cluster: "prod1", Pods: []string{"p"}},
		report.Announced{Template: "start", Channel: "C1"},
		report.Dump{Database: "meshdb", Cluster: "prod2", Size: 3, SHA256: "s", Dest: "prod1", CopyErr: "e", Backup: &report.DumpBackup{Size: 1, SHA256: "b", Second: true, Changed: true, NoPodCopy: "e"}},
		report.Restore{Cluster: "prod1", Size: 3, SHA256: "s", BackupSize: 1, BackupSHA256: "b",
			Backup: report.BackupHow{Cluster: "prod1", Source: report.BackupChanged, After: &report.DBState{NextXid: "1"}, Now: &report.DBState{NextXid: "2", OpenWrites: 1}},
			Notes:  []report.Note{{Kind: report.NoteRestoredBackup, Found: &report.Found{Cluster: "prod1", Spool: true, PodErr: "e"}}},
			Jobs:   report.Jobs{Jobs: 2, Resources: &report.Resources{Cores: 2, CPULimit: 1.5, MemLimit: 1 << 30}, MemKB: 1 << 20}, IgnoredErrors: 1},
		report.Dumping{Database: "meshdb", Cluster: "prod2", Pod: "p", Dest: "prod1", DestPod: "q", Again: true},
		report.CheckingCopy{Pod: "q"},
		report.Copying{Size: 1, Pod: "q"},
		report.BackingUp{Why: report.BackupHow{Cluster: "prod1", Source: report.BackupNone}},
		report.Restoring{Cluster: "prod1", Jobs: report.Jobs{Jobs: 1, ResourcesErr: "e"}},
		report.Checking{Check: "c"},
		report.StoppedLeftovers{What: []string{"prod1 pg_dump (pid 7)"}},
		report.SQLFallback{},
		report.WaitingReady{Where: report.Where{URL: "u"}, Attempt: 2, Err: "e"},
		report.Fetching{Paths: []string{"/a"}, Where: report.Where{Cluster: "prod1", LB: "l"}},
		report.PRState{URL: "u", State: "closed", Merged: true, Head: "h"},
		report.HeadMoved{URL: "u", Reason: "r"},
		report.AwaitingMerge{URL: "u", Refused: true, Reason: "r"},
		report.AwaitingRun{URL: "u", MergeSHA: "m", Workflow: "w"},
		report.RunState{URL: "u", Workflow: "w", RunURL: "r", Status: "completed", Conclusion: "success"},
		report.WaitingDNS{Name: "n", Want: "w", Answers: []report.Answer{{Resolver: "r", Err: "e", CNAME: "c", A: []string{"a"}}}},
		report.Scaling{Cluster: "prod1", Namespace: "meshdb", Workload: "statefulset", Name: "w", From: 1, To: 0, Status: 1},
		report.TLSAttempt{Attempt: 2, Err: "e"},
		report.End{Leftovers: []report.Leftover{{Path: "/tmp/x", Cluster: "prod1", Err: "e"}}, Backups: []report.KeptBackup{{File: "f", Bytes: 1}},
			KeptUntil: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
	}
	seen := map[string]bool{}
	for _, f := range facts {
		raw, err := json.Marshal(f)
		require.NoError(t, err)
		back, err := report.Decode(f.ReportKind(), raw)
		require.NoError(t, err, f.ReportKind())
		assert.Equal(t, f, back, f.ReportKind())
		seen[f.ReportKind()] = true
	}
	for _, k := range report.Kinds() {
		assert.True(t, seen[k], "kind %s is covered here", k)
	}
	_, err := report.Decode("from-a-newer-version", []byte(`{}`))
	assert.ErrorContains(t, err, `no report kind "from-a-newer-version"`)
	_, err = report.Decode("scale", []byte(`{"from":"one"}`))
	assert.Error(t, err)
}

func TestKB(t *testing.T) {
	for kb, want := range map[int64]string{65536: "64MB", 1 << 20: "1GB", 65537: "65537kB", 3 << 20: "3GB"} {
		assert.Equal(t, want, report.KB(kb), kb)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 13841203: "13.2 MiB", 3 << 30: "3.00 GiB"} {
		assert.Equal(t, want, report.HumanBytes(n), n)
	}
}
