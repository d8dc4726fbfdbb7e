package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const example = "../../cutover.example.yaml"

func runCLI(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	code := 0
	if err != nil {
		code = 1
		var ee exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		errb.WriteString(errorText(err)) // as main prints it
	}
	return out.String(), errb.String(), code
}

func TestPlanPrintsAllStepsWithCommands(t *testing.T) {
	out, _, code := runCLI("plan", "--config", example, "prod2", "prod1")
	require.Equal(t, 0, code)
	steps := regexp.MustCompile(`(?m)^\s*(\d+)\. `).FindAllStringSubmatch(out, -1)
	require.Len(t, steps, 18)
	assert.Equal(t, "18", steps[17][1])
	for _, want := range []string{
		"prod2/meshdb pod app=meshdb-postgres-app container meshdb-postgres: pg_dump -d meshdb -U meshdb -Fc -Z 1",
		"prod1/meshdb pod app=meshdb-postgres-app container meshdb-postgres: pg_restore -d meshdb -U meshdb -c --if-exists /tmp/cutoverbot-<run>.dump",
		"prod2/meshdb pod app=meshdb-meshweb-app container meshdb-meshweb: python manage.py enable_flag MAINTENANCE_MODE",
		"prod1/meshdb pod app=meshdb-meshweb-app container meshdb-meshweb: python manage.py disable_flag MAINTENANCE_MODE",
		`answer = "kubernetes-lb-prod-sn10.nycmesh.net" -> "kubernetes-lb-prod-sn3.nycmesh.net"`,
		"Nothing was changed",
	} {
		assert.Contains(t, out, want)
	}
}

func TestPlanRefusals(t *testing.T) {
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"plan", "--config", example, "prod1", "prod1"}, "both \"prod1\""},
		{[]string{"plan", "--config", example, "prod2", "prod9"}, `unknown cluster "prod9"`},
		{[]string{"plan", "--config", example, "prod2"}, "needs ORIGIN and DEST"},
		{[]string{"plan", "prod2", "prod1"}, "--config FILE is required"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"plan", "--nope"}, "flag provided but not defined"},
	}
	for _, tc := range cases {
		_, errOut, code := runCLI(tc.args...)
		assert.Equal(t, 2, code, "%v", tc.args)
		assert.Contains(t, errOut, tc.msg, "%v", tc.args)
	}
}

func TestCheckListsEveryProblemOfABrokenCopy(t *testing.T) {
	src, err := os.ReadFile(example)
	require.NoError(t, err)
	broken := string(src)
	for _, r := range [][2]string{
		{"channel: C0123MESHDB", "channel: meshdb"},
		{"approval_timeout: 2h", "approval_timeout: later"},
		{"      selector: app=meshdb-postgres-app\n", ""},
		{"  resolvers: [", "  resolverz: ["},
	} {
		broken = strings.Replace(broken, r[0], r[1], 1)
	}
	path := filepath.Join(t.TempDir(), "broken.yaml")
	require.NoError(t, os.WriteFile(path, []byte(broken), 0o600))
	out, errOut, code := runCLI("check", "--offline", "--config", path)
	assert.Equal(t, 2, code)
	for _, want := range []string{
		"error: slack.channel:", "error: slack.approval_timeout:", "error: clusters.prod1.postgres.selector: required",
		"error: dns.resolverz: unknown key", "error: dns.resolvers: name at least one resolver",
	} {
		assert.Contains(t, out, want)
	}
	assert.Contains(t, errOut, "nothing was done")

	out, _, code = runCLI("check", "--offline", "--config", example)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "ok: ")
}

func TestHelpOnEachCommand(t *testing.T) {
	for _, cmd := range []string{"plan", "check", "history"} {
		_, errOut, code := runCLI(cmd, "--help")
		assert.Equal(t, 0, code, cmd)
		assert.Contains(t, errOut, "Usage: cutoverbot "+cmd)
	}
	out, _, code := runCLI("--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "make demo")
}

func TestHistoryOnAnEmptyStore(t *testing.T) {
	src, err := os.ReadFile(example)
	require.NoError(t, err)
	dir := t.TempDir()
	cfg := strings.Replace(string(src), "dir: /var/lib/cutoverbot", "dir: "+filepath.Join(dir, "state"), 1)
	path := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	out, _, code := runCLI("history", "--config", path)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "No runs yet.")
}

func TestVersionOfAnUnstampedBuild(t *testing.T) {
	out, _, code := runCLI("version")
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^cutoverbot \S+\ncommit:  \S+\nbuilt:   \S+\ngo:      go1\.`, out)
}
