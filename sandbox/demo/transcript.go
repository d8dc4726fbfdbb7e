package demo

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/nycmeshnet/cutoverbot/bot/slackfake"
)

// transcript prints what happens in the local Slack as a person would read #meshdb.
type transcript struct {
	mu     sync.Mutex
	out    io.Writer
	slack  *slackfake.Server
	header string // the run's header message, whose many edits are not printed
}

func newTranscript(out io.Writer, s *slackfake.Server) *transcript {
	return &transcript{out: out, slack: s}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " · ")), " ")
	for _, r := range [][2]string{{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}, {"<@U01ALICE>", "@alice"}, {"<@U02BOB>", "@bob"}, {"<@U03CAROL>", "@carol"}} {
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (t *transcript) event(ev slackfake.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ev.Body != "" && ev.Kind != slackfake.EventEphemeral {
		ev.Text = strings.ReplaceAll(strings.TrimSpace(ev.Body), "*", "")
	}
	switch ev.Kind {
	case slackfake.EventPosted:
		if ev.ThreadTS == "" {
			if t.header == "" && strings.Contains(ev.Text, "MeshDB cutover") {
				t.header = ev.TS
				fmt.Fprintf(t.out, "\n#meshdb  cutoverbot: %s\n", oneLine(ev.Text, 160))
				return
			}
			fmt.Fprintf(t.out, "\n#meshdb  cutoverbot (top-level): %s\n\n", oneLine(ev.Text, 400))
			return
		}
		fmt.Fprintf(t.out, "   ↳ cutoverbot: %s\n", oneLine(ev.Text, 220))
	case slackfake.EventUpdated:
		if ev.TS == t.header {
			return
		}
		if strings.Contains(ev.Text, "Approved by") || strings.Contains(ev.Text, "Rejected by") || strings.Contains(ev.Text, "succeeded after") || strings.Contains(ev.Text, "failed after") {
			fmt.Fprintf(t.out, "   ↳ (edited) %s\n", oneLine(ev.Text, 200))
		}
	case slackfake.EventEphemeral:
		fmt.Fprintf(t.out, "   (only @%s sees) cutoverbot: %s\n", t.slack.UserName(ev.User), oneLine(ev.Text, 200))
	case slackfake.EventFile:
		fmt.Fprintf(t.out, "   ↳ cutoverbot uploaded %s\n", ev.Text)
	}
}

func (t *transcript) click(user, label string, step int, title string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, "   ↳ @%s clicks %s on step %d (%s)\n", user, label, step, title)
}
