package handlers

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/plan"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// A step's account in Slack keeps the template's markup (a channel link) and escapes
// the data: a value cannot become a link or a broadcast.
func TestResultEscapesTheDataNotTheMarkup(t *testing.T) {
	run := func(o engine.Output) *engine.Run {
		return &engine.Run{ID: "r1", Steps: []engine.StepRun{{Step: plan.Step{ID: "announce", Title: "Announce"}, State: engine.Succeeded, Output: o}}}
	}
	sections := func(r *engine.Run) string { return strings.Join(Result(r, 0).Sections, "\n") }

	got := sections(run(engine.Output{}.WithReport(report.Announced{Template: "start", Channel: "C0MESHDB"})))
	assert.Contains(t, got, "posted the start announcement top-level in <#C0MESHDB>")
	assert.NotContains(t, got, "&lt;#")

	got = sections(run(engine.Output{}.WithReport(report.Announced{Template: "<!channel> & co", Channel: "C0MESHDB"})))
	assert.Contains(t, got, "posted the &lt;!channel&gt; &amp; co announcement top-level in <#C0MESHDB>")
	assert.NotContains(t, got, "<!channel>")

	// A sentence stored by an earlier version is escaped whole, as before.
	got = sections(run(engine.Output{Summary: "posted in <#C0MESHDB> for <!here>"}))
	assert.Contains(t, got, "posted in &lt;#C0MESHDB&gt; for &lt;!here&gt;")
}

// The escaped copy leaves the report it was made from as it was.
func TestEscapedCopyLeavesTheOriginal(t *testing.T) {
	f := report.CopyRemoved{Cluster: "a<b", Pods: []string{"p&q"}}
	c := escapedCopy(reflect.ValueOf(f)).Interface().(report.CopyRemoved)
	require.Equal(t, "a&lt;b", c.Cluster)
	require.Equal(t, []string{"p&amp;q"}, c.Pods)
	assert.Equal(t, "a<b", f.Cluster)
	assert.Equal(t, []string{"p&q"}, f.Pods)
}
