package github_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/github"
)

const botLine = `answer      = "kubernetes-lb-prod-sn3.nycmesh.net"`

// Merge merges only the head it is given: a push after the comparison is refused by
// GitHub, and the bot hears ErrHeadMoved, not a refusal to wait out.
func TestMergeTakesOnlyTheComparedHead(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: records})
	pr, err := c.OpenChange(ctx, dnsChange("cutoverbot/run-1-dns"))
	require.NoError(t, err)
	require.Equal(t, s.Head(dnsRepo, "cutoverbot/run-1-dns"), pr.HeadSHA)

	_, _, err = c.Merge(ctx, pr, "", "no sha")
	require.ErrorContains(t, err, "no head sha")
	s.Commit(dnsRepo, "cutoverbot/run-1-dns", map[string]string{"extra.tf": "# pushed after the comparison\n"}, "pushed")
	merged, reason, err := c.Merge(ctx, pr, pr.HeadSHA, "Merged by cutoverbot")
	require.ErrorIs(t, err, github.ErrHeadMoved)
	assert.False(t, merged)
	assert.Contains(t, reason, "Head branch was modified")
	assert.Equal(t, records, s.File(dnsRepo, "main", dnsFile), "nothing was merged")
	assert.Empty(t, s.File(dnsRepo, "main", "extra.tf"))
}

// OpenChange compares the PR it returns with the edit, line for line, whether it just
// opened it or found it: any other change is a MismatchError showing both versions.
func TestOpenChangeComparesThePRWithTheEdit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		push  map[string]string
		shown []string // in the error, besides the bot's line
	}{
		{"nothing pushed", nil, nil},
		{"an empty commit", map[string]string{}, nil},
		{"a line changed in another record", map[string]string{dnsFile: strings.Replace(switched, `host        = "devdb"`, `host        = "evil"`, 1)},
			[]string{`+4:   host        = "evil"`, `-4:   host        = "devdb"`, "+18:   " + botLine}},
		{"the bot's line changed", map[string]string{dnsFile: strings.Replace(switched, sn3, "attacker.example.net", 1)},
			[]string{`+18:   answer      = "attacker.example.net"`, "+18:   " + botLine}},
		{"the change undone", map[string]string{dnsFile: records}, []string{"(no change)", "+18:   " + botLine}},
		{"a file added", map[string]string{"backdoor.tf": "resource \"x\" \"y\" {}\n"},
			[]string{"backdoor.tf", "(leaves this file alone)", "adds the file", `+1: resource "x" "y" {}`}},
		{"a file deleted", map[string]string{"README.md": ""}, []string{"README.md", "deletes the file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := fake(t)
			ctx := context.Background()
			s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: records, "README.md": "records"})
			first, err := c.OpenChange(ctx, dnsChange("cutoverbot/run-1-dns"))
			require.NoError(t, err, "the PR the bot opened holds its edit")
			if tc.push != nil {
				s.Commit(dnsRepo, "cutoverbot/run-1-dns", tc.push, "pushed by someone")
			}
			// A retry finds the PR and compares it again.
			pr, err := c.OpenChange(ctx, dnsChange("cutoverbot/run-1-dns"))
			assert.Equal(t, s.Head(dnsRepo, "cutoverbot/run-1-dns"), pr.HeadSHA, "the head compared is the branch's head")
			assert.Equal(t, first.Number, pr.Number)
			if tc.shown == nil {
				require.NoError(t, err)
				return
			}
			var mm *github.MismatchError
			require.True(t, errors.As(err, &mm), "%v", err)
			assert.Equal(t, pr.HeadSHA, mm.Head)
			msg := err.Error()
			assert.Contains(t, msg, "/pull/1 does not hold exactly the change the bot computed, so it was not merged")
			assert.Contains(t, msg, pr.HeadSHA[:7])
			for _, want := range tc.shown {
				assert.Contains(t, msg, want)
			}
			assert.Contains(t, msg, "Put branch cutoverbot/run-1-dns back to the bot's change alone")
		})
	}
}

// The revert PR found by a retried rollback is compared with the files as they were
// before the merged PR.
func TestRevertComparesTheRevertPR(t *testing.T) {
	s, c := fake(t)
	ctx := context.Background()
	s.CreateRepo(dnsRepo, "main", map[string]string{dnsFile: records})
	pr, err := c.OpenChange(ctx, dnsChange("cutoverbot/run-1-dns"))
	require.NoError(t, err)
	ok, _, err := c.Merge(ctx, pr, pr.HeadSHA, "")
	require.NoError(t, err)
	require.True(t, ok)
	done, err := c.Get(ctx, dnsRepo, pr.Number)
	require.NoError(t, err)
	rev, err := c.Revert(ctx, done, "main", "cutoverbot/run-1-dns-revert", nil, revertText)
	require.NoError(t, err)
	again, err := c.Revert(ctx, done, "main", "cutoverbot/run-1-dns-revert", nil, revertText)
	require.NoError(t, err)
	assert.Equal(t, rev.HeadSHA, again.HeadSHA)

	s.Commit(dnsRepo, "cutoverbot/run-1-dns-revert", map[string]string{dnsFile: strings.Replace(records, `host        = "devdb"`, `host        = "evil"`, 1)}, "pushed")
	_, err = c.Revert(ctx, done, "main", "cutoverbot/run-1-dns-revert", nil, revertText)
	var mm *github.MismatchError
	require.True(t, errors.As(err, &mm), "%v", err)
	assert.Contains(t, err.Error(), "/pull/2 does not hold exactly")
	assert.Contains(t, err.Error(), `+4:   host        = "evil"`)
	assert.Contains(t, err.Error(), `+18:   answer      = "kubernetes-lb-prod-sn10.nycmesh.net"`, "the revert's own line is shown")
	assert.Equal(t, switched, s.File(dnsRepo, "main", dnsFile))
}
