package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"go.yaml.in/yaml/v3"

	cutoverbot "github.com/nycmeshnet/cutoverbot"
)

// example is the documented example configuration, cutover.example.yaml.
func example(testing.TB) string { return string(cutoverbot.ExampleConfig) }

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestExampleLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cutover.yaml")
	require.NoError(t, os.WriteFile(path, cutoverbot.ExampleConfig, 0o600))
	cfg, warnings, err := Load(path, Options{Getenv: env(nil)})
	require.NoError(t, err)
	assert.Empty(t, warnings)
	assert.Equal(t, "C0123MESHDB", cfg.Slack.Channel)
	assert.Equal(t, []string{"U01ALICE", "U02BOB", "U03CAROL"}, cfg.Slack.Maintainers.Users)
	assert.Equal(t, 2*time.Hour, cfg.Slack.ApprovalTimeout.Duration)
	assert.Equal(t, 15*time.Minute, cfg.Slack.ReminderEvery.Duration)
	assert.Equal(t, "https://slack.com/api/", cfg.Slack.APIURL, "empty api_url means Slack's")
	assert.Equal(t, "https://api.github.com/", cfg.GitHub.APIURL)
	assert.True(t, strings.HasPrefix(cfg.Announcements.Start, "Hey all, we're going to do some work on MeshDB"))
	assert.True(t, strings.HasSuffix(cfg.Announcements.Start, "Thank you for your patience"))
	require.Contains(t, cfg.Clusters, "prod1")
	p1 := cfg.Clusters["prod1"]
	assert.Equal(t, "app=meshdb-postgres-app", p1.Postgres.Selector)
	assert.Equal(t, []string{"python", "manage.py"}, p1.Meshweb.Manage)
	assert.Equal(t, "199.170.132.45:443", p1.LBAddress)
	assert.Equal(t, "kubernetes-lb-prod-sn10.nycmesh.net", cfg.Clusters["prod2"].LBHostname)
	assert.Equal(t, []string{"1.1.1.1:53", "8.8.8.8:53", "9.9.9.9:53"}, cfg.DNS.Resolvers)
	assert.Equal(t, 45*time.Minute, cfg.DNS.Timeout.Duration)
	assert.Equal(t, 5*time.Minute, cfg.Service.ReadyTimeout.Duration)
	assert.Equal(t, "sld_terraform.yaml", cfg.GitHub.DNS.Workflow)
	assert.Equal(t, "deploy_environments.yaml", cfg.GitHub.Certs.Workflow)
	assert.Equal(t, "prod2", cfg.Clusters["prod2"].CertsEnvironment)
	assert.Equal(t, time.Hour, cfg.GitHub.RunTimeout.Duration)
	assert.Equal(t, 5*time.Second, cfg.Service.ReadyPollEvery.Duration)
	assert.True(t, cfg.Database.RestoreJobs.Auto(), "restore_jobs: auto")
	memAuto, _ := cfg.Database.RestoreMaintenance()
	assert.True(t, memAuto, "restore_maintenance_work_mem: auto")
	require.NotNil(t, cfg.Database.DumpCompression)
	assert.Equal(t, "1", cfg.Database.PG().Compress)
	assert.Equal(t, "auto", cfg.GitHub.DNS.Merge)
	assert.Equal(t, "America/New_York", cfg.Schedule.Timezone)
}

func TestEachProblemHasItsPath(t *testing.T) {
	cases := []struct {
		name, old, new, path, msg string
	}{
		{"missing selector", "    postgres:\n      selector: app=meshdb-postgres-app\n", "    postgres:\n", "clusters.prod1.postgres.selector", "required"},
		{"shared workload selector", "selector: app=meshdb-meshweb-app", "selector: app.kubernetes.io/name=meshdb", "clusters.prod1.meshweb.selector", "all MeshDB workloads share"},
		{"bad duration", "approval_timeout: 2h", "approval_timeout: two hours", "slack.approval_timeout", "not a duration"},
		{"wrong type", "approvals_required: 1", "approvals_required: lots", "slack.approvals_required", "wrong type"},
		{"impossible approvals", "approvals_required: 1", "approvals_required: 3", "slack.approvals_required", "can never be met"},
		{"bad channel", "channel: C0123MESHDB", "channel: meshdb", "slack.channel", "not a Slack channel ID"},
		{"bad user", "users: [U01ALICE,", "users: [alice,", "slack.maintainers.users[0]", "not a Slack user ID"},
		{"bad lb address", "lb_address: 199.170.132.45:443", "lb_address: 199.170.132.45", "clusters.prod1.lb_address", "not host:port"},
		{"same lb hostname", "lb_hostname: kubernetes-lb-prod-sn10.nycmesh.net", "lb_hostname: kubernetes-lb-prod-sn3.nycmesh.net", "clusters.prod2.lb_hostname", "same as clusters.prod1"},
		{"sql injection in db name", "  name: meshdb\n", "  name: \"meshdb; drop table x\"\n", "database.name", "not a plain database name"},
		{"kiosks diffed", "    - /api/v1/mapdata/sectors/", "    - /api/v1/mapdata/kiosks/", "service.snapshot_paths[2]", "must not be diffed"},
		{"bad merge mode", "merge: auto                             # auto", "merge: always                           # auto", "github.dns.merge", "not one of auto, manual"},
		{"bad backend", "backend: file", "backend: etcd", "state.backend", "not one of file, kubernetes"},
		{"bad repo", "repo: nycmeshnet/meshdb", "repo: meshdb", "github.app.repo", "not owner/name"},
		{"bad resolver", "resolvers: [1.1.1.1:53,", "resolvers: [1.1.1.1,", "dns.resolvers[0]", "not host:port"},
		{"unknown key", "  approval_timeout: 2h", "  aproval_timeout: 2h", "slack.aproval_timeout", `unknown key (did you mean "approval_timeout"?)`},
		{"unknown nested key", "      container: meshdb-postgres\n", "      container: meshdb-postgres\n      contianer: x\n", "clusters.prod1.postgres.contianer", "unknown key"},
		{"unknown top-level key", "http:\n", "htpp:\n  x: 1\nhttp:\n", "htpp", "unknown key"},
		{"bad ready wait", "ready_timeout: 5m ", "ready_timeout: soon ", "service.ready_timeout", "not a duration"},
		{"ready poll too often", "ready_poll_every: 5s ", "ready_poll_every: 1ms ", "service.ready_poll_every", "at least 100ms"},
		{"bad workflow", "workflow: sld_terraform.yaml ", "workflow: .github/workflows/sld_terraform.yaml ", "github.dns.workflow", "not a workflow file name"},
		{"bad run timeout", "run_timeout: 1h ", "run_timeout: forever ", "github.run_timeout", "not a duration"},
		{"bad timezone", "timezone: America/New_York", "timezone: Mars/Olympus", "schedule.timezone", "not a time zone"},
		{"compression too high", "dump_compression: 1 ", "dump_compression: 10 ", "database.dump_compression", "between 0 (none) and 9"},
		{"negative compression", "dump_compression: 1 ", "dump_compression: -1 ", "database.dump_compression", "between 0 (none) and 9"},
		{"compression by name", "dump_compression: 1 ", "dump_compression: lz4 ", "database.dump_compression", "wrong type"},
		{"no restore jobs", "restore_jobs: auto", "restore_jobs: 0", "database.restore_jobs", "auto or between 1 and 16"},
		{"too many restore jobs", "restore_jobs: auto", "restore_jobs: 17", "database.restore_jobs", "auto or between 1 and 16"},
		{"restore jobs by word", "restore_jobs: auto", "restore_jobs: many", "database.restore_jobs", `"many" is not auto or a number`},
		{"memory without unit", "restore_maintenance_work_mem: auto", "restore_maintenance_work_mem: 256", "database.restore_maintenance_work_mem", "not auto, server, or a size"},
		{"memory in lower case", "restore_maintenance_work_mem: auto", "restore_maintenance_work_mem: 256mb", "database.restore_maintenance_work_mem", "not auto, server, or a size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := example(t)
			require.Contains(t, src, tc.old, "the test's snippet must be in the example")
			_, problems := Parse([]byte(strings.Replace(src, tc.old, tc.new, 1)), Options{Getenv: env(nil)})
			var found []string
			for _, p := range problems.Criticals() {
				found = append(found, p.Path+": "+p.Message)
				if p.Path == tc.path && strings.Contains(p.Message, tc.msg) {
					return
				}
			}
			t.Fatalf("no critical problem %s: %s; got %v", tc.path, tc.msg, found)
		})
	}
}

// A configuration written before the workflow keys still loads: no wait for the
// merges' runs (a warning says so), the run bounds and certs_environment defaulted.
func TestConfigWithoutWorkflowKeys(t *testing.T) {
	src := example(t)
	for _, line := range []string{
		"    workflow: sld_terraform.yaml ", "    workflow: deploy_environments.yaml ", "    certs_environment: prod1 ", "    certs_environment: prod2\n",
		"  run_poll_every: 15s ", "  run_appear_timeout: 2m ", "  run_timeout: 1h "} {
		i := strings.Index(src, line)
		require.GreaterOrEqual(t, i, 0, line)
		end := i + strings.Index(src[i:], "\n") + 1
		src = src[:i] + src[end:]
	}
	src = strings.Replace(src, "                                            # and preflight checks it deploys to the destination's certs_environment\n", "", 1)
	cfg, problems := Parse([]byte(src), Options{Getenv: env(nil)})
	require.Empty(t, problems.Criticals())
	var warned []string
	for _, w := range problems.Warnings() {
		warned = append(warned, w.Path)
	}
	assert.ElementsMatch(t, []string{"github.dns.workflow", "github.certs.workflow"}, warned)
	assert.Empty(t, cfg.GitHub.DNS.Workflow)
	assert.Equal(t, "prod1", cfg.Clusters["prod1"].CertsEnvironment, "the cluster's name")
	assert.Equal(t, 2*time.Minute, cfg.GitHub.RunAppearTimeout.Duration)
	assert.Equal(t, 15*time.Second, cfg.GitHub.RunPollEvery.Duration)
}

// restore_jobs is auto when omitted or said, else the number given (a configuration
// written before auto, with restore_jobs: 1, keeps one job); restore_maintenance_work_mem
// is auto when omitted, server leaves the server's, a size is read in kB.
func TestRestoreJobsAndMemory(t *testing.T) {
	src := example(t)
	for _, tc := range []struct {
		jobs, mem string
		want      Jobs
		memAuto   bool
		memKB     int64
	}{
		{"", "", JobsAuto, true, 0},
		{"auto", "auto", JobsAuto, true, 0},
		{"1", "server", NJobs(1), false, 0},
		{"16", "256MB", NJobs(16), false, 256 << 10},
		{"2", "1 GB", NJobs(2), false, 1 << 20},
		{"3", "65536kB", NJobs(3), false, 65536},
	} {
		s := src
		for key, v := range map[string]string{"restore_jobs: auto": tc.jobs, "restore_maintenance_work_mem: auto": tc.mem} {
			require.Contains(t, s, key)
			line := ""
			if v != "" {
				line = strings.SplitN(key, ":", 2)[0] + ": " + v
			}
			s = strings.Replace(s, key, line, 1)
		}
		cfg, problems := Parse([]byte(s), Options{Getenv: env(nil)})
		require.Empty(t, problems.Criticals(), "restore_jobs %q, restore_maintenance_work_mem %q", tc.jobs, tc.mem)
		assert.Equal(t, tc.want.N, cfg.Database.RestoreJobs.N, "restore_jobs %q", tc.jobs)
		memAuto, kb := cfg.Database.RestoreMaintenance()
		assert.Equal(t, tc.memAuto, memAuto, "restore_maintenance_work_mem %q", tc.mem)
		assert.Equal(t, tc.memKB, kb, "restore_maintenance_work_mem %q", tc.mem)
		// Written back and read again (the sandbox does), the value holds.
		raw, err := yaml.Marshal(cfg.Database)
		require.NoError(t, err)
		var back Database
		require.NoError(t, yaml.Unmarshal(raw, &back))
		v := &validator{}
		v.jobs("database.restore_jobs", &back.RestoreJobs)
		assert.Equal(t, tc.want.N, back.RestoreJobs.N, "%s", raw)
	}
}

// An omitted dump_compression means -Z 1; an explicit 0 (no compression) is kept,
// not taken for "omitted".
func TestDumpCompression(t *testing.T) {
	src := example(t)
	line := "  dump_compression: 1 "
	require.Contains(t, src, line)
	for _, tc := range []struct{ with, want string }{
		{"", "1"},
		{"  dump_compression: 0 ", "0"},
		{"  dump_compression: 9 ", "9"},
	} {
		cfg, problems := Parse([]byte(strings.Replace(src, line, tc.with, 1)), Options{Getenv: env(nil)})
		require.Empty(t, problems.Criticals())
		assert.Equal(t, tc.want, cfg.Database.PG().Compress, "dump_compression line %q", tc.with)
	}
}

func TestEveryProblemIsReportedAtOnce(t *testing.T) {
	src := example(t)
	for _, r := range [][2]string{
		{"channel: C0123MESHDB", "channel: x"},
		{"approval_timeout: 2h", "approval_timeout: soon"},
		{"  dir: /var/lib/cutoverbot", "  dri: /var/lib/cutoverbot"},
		{"lb_address: 23.158.16.22:443", "lb_address: nowhere"},
	} {
		src = strings.Replace(src, r[0], r[1], 1)
	}
	dir := t.TempDir()
	path := dir + "/broken.yaml"
	require.NoError(t, os.WriteFile(path, []byte(src), 0o600))
	cfg, problems, err := Load(path, Options{Getenv: env(nil)})
	require.Error(t, err)
	assert.Nil(t, cfg, "a configuration with errors is not returned")
	paths := map[string]bool{}
	for _, p := range problems.Criticals() {
		paths[p.Path] = true
	}
	for _, want := range []string{"slack.channel", "slack.approval_timeout", "state.dri", "state.dir", "clusters.prod2.lb_address"} {
		assert.True(t, paths[want], "missing problem for %s in %v", want, err)
	}
	assert.Contains(t, err.Error(), "configuration has")
}

func TestWarningsDoNotRefuse(t *testing.T) {
	src := strings.Replace(example(t), "    context: prod1\n", "    context: \"\"\n", 1)
	cfg, problems := Parse([]byte(src), Options{Getenv: env(nil)})
	require.NotNil(t, cfg)
	assert.Empty(t, problems.Criticals())
	require.Len(t, problems.Warnings(), 1)
	assert.Equal(t, "clusters.prod1.context", problems.Warnings()[0].Path)
}

func TestBadYAMLAndEmptyFile(t *testing.T) {
	for _, src := range []string{"", "slack: [", "- a\n- b\n", "slack: {channel: 5"} {
		cfg, problems := Parse([]byte(src), Options{})
		assert.Nil(t, cfg, "input %q", src)
		assert.NotEmpty(t, problems.Criticals(), "input %q", src)
	}
}

const (
	botToken = "xoxb-1111-2222-SECRETBOT"
	appToken = "xapp-1-A111-SECRETAPP"
	ghToken  = "ghp_SECRETGITHUBTOKEN"
)

func TestTokensComeFromEnvironmentAndNeverPrint(t *testing.T) {
	cfg, problems := Parse([]byte(example(t)), Options{RequireTokens: true, Getenv: env(map[string]string{
		"SLACK_BOT_TOKEN": botToken, "SLACK_APP_TOKEN": appToken, "GITHUB_TOKEN": ghToken,
	})})
	require.Empty(t, problems.Criticals())
	assert.Equal(t, botToken, cfg.Tokens.SlackBot.Reveal())

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	logger.Info("config", "cfg", cfg, "tokens", cfg.Tokens, "bot", cfg.Tokens.SlackBot)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "tokens", cfg.Tokens, "bot", cfg.Tokens.SlackBot)
	j, err := json.Marshal(cfg)
	require.NoError(t, err)
	outputs := []string{
		fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", *cfg),
		fmt.Sprintf("%s", cfg.Tokens.SlackBot), fmt.Sprintf("%x", cfg.Tokens.GitHub), fmt.Sprintf("%q", cfg.Tokens.SlackApp),
		fmt.Sprint(cfg.Tokens), string(j), logs.String(),
	}
	for _, out := range outputs {
		for _, secret := range []string{botToken, appToken, ghToken, "SECRET"} {
			assert.NotContains(t, out, secret)
		}
	}
	assert.Contains(t, logs.String(), "[redacted]")
}

func TestTokenProblemsNameTheVariableNotTheValue(t *testing.T) {
	_, problems := Parse([]byte(example(t)), Options{RequireTokens: true, Getenv: env(map[string]string{
		"SLACK_BOT_TOKEN": "xapp-WRONGKIND-SECRET", "GITHUB_TOKEN": ghToken,
	})})
	msg := Problems(problems).Error()
	assert.Contains(t, msg, "env SLACK_BOT_TOKEN: does not start with xoxb-")
	assert.Contains(t, msg, "env SLACK_APP_TOKEN: not set")
	assert.NotContains(t, msg, "SECRET")
}

func FuzzLoad(f *testing.F) {
	f.Add(cutoverbot.ExampleConfig)
	f.Add([]byte("slack: {channel: C1}\nclusters: {a: {}, b: {}}\n"))
	f.Add([]byte("plan: [{kind: scale, replicas: -1}]"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, problems := Parse(data, Options{})
		if cfg == nil && len(problems.Criticals()) == 0 {
			t.Fatalf("no configuration and no problem for %q", data)
		}
	})
}

func TestNotify(t *testing.T) {
	src := example(t)
	line := "  notify: [mention, broadcast]\n"
	require.Contains(t, src, line)
	for _, tc := range []struct {
		name, with string
		want       Notify
		crit, warn string
	}{
		{"omitted", "", Notify{NotifyMention, NotifyBroadcast}, "", ""},
		{"one mode as a string", "  notify: dm\n", Notify{NotifyDM}, "", ""},
		{"a list", "  notify: [mention, dm]\n", Notify{NotifyMention, NotifyDM}, "", ""},
		{"unknown mode", "  notify: [mention, shout]\n", nil, "slack.notify[1]", ""},
		{"none", "  notify: []\n", Notify{}, "", "slack.notify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, problems := Parse([]byte(strings.Replace(src, line, tc.with, 1)), Options{Getenv: env(nil)})
			if tc.crit != "" {
				require.NotEmpty(t, problems.Criticals())
				assert.Equal(t, tc.crit, problems.Criticals()[0].Path)
				assert.Contains(t, problems.Criticals()[0].Message, "not one of mention, broadcast, dm")
				return
			}
			require.Empty(t, problems.Criticals())
			assert.Equal(t, tc.want, cfg.Slack.Notify)
			var warned []string
			for _, p := range problems.Warnings() {
				warned = append(warned, p.Path)
			}
			if tc.warn != "" {
				assert.Contains(t, warned, tc.warn)
			} else {
				assert.NotContains(t, warned, "slack.notify")
			}
		})
	}
}

// A plain-http API URL would send the Slack or GitHub token in clear text: only a
// loopback address (a local test server) may be reached that way.
func TestPlainHTTPAPIURLsOnlyOnLoopback(t *testing.T) {
	keys := []struct{ path, line string }{
		{"slack.api_url", `api_url: ""                   # Slack Web API base`},
		{"github.api_url", `api_url: ""                   # empty = https://api.github.com/`},
	}
	cases := []struct {
		url     string
		refused bool
	}{
		{"http://slack.example.com/api/", true},
		{"http://10.0.0.1:8080/", true},
		{"http://0.0.0.0:8080/", true},
		{"http://localhost.example.com/", true},
		{"http://127.0.0.1.example.com/", true},
		{"http://[fe80::1]/", true},
		{"https://ghe.example/api/v3/", false},
		{"http://127.0.0.1:8080/api/", false},
		{"http://127.45.6.7/", false},
		{"http://[::1]:9000/", false},
		{"http://localhost:3000/", false},
		{"HTTP://LocalHost/", false},
	}
	for _, k := range keys {
		for _, tc := range cases {
			t.Run(k.path+" "+tc.url, func(t *testing.T) {
				src := example(t)
				require.Contains(t, src, k.line)
				src = strings.Replace(src, k.line, strings.Replace(k.line, `""`, `"`+tc.url+`"`, 1), 1)
				_, problems := Parse([]byte(src), Options{Getenv: env(nil)})
				var msgs []string
				for _, p := range problems.Criticals() {
					if p.Path == k.path {
						msgs = append(msgs, p.Message)
					}
				}
				if !tc.refused {
					assert.Empty(t, msgs)
					return
				}
				require.Len(t, msgs, 1, "%s is refused", tc.url)
				assert.Contains(t, msgs[0], "clear text")
				assert.Contains(t, msgs[0], "https")
			})
		}
	}
}
