package demo

import (
	"fmt"
	"io"
	"regexp"
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

// slackMarkup is Slack's markup as a client shows it: a date in the reader's zone (the
// fallback here), a link by its label, a user group by name.
var slackMarkup = regexp.MustCompile(`<!date\^[0-9]+\^[^|>]*\|([^>]*)>|<https?://[^|>]*\|([^>]*)>|<!subteam\^[A-Z0-9]+>`)

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " · ")), " ")
	s = slackMarkup.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "<!subteam^") {
			return "@maintainers"
		}
		sub := slackMarkup.FindStringSubmatch(m)
		return sub[1] + sub[2]
	})
	for _, r := range [][2]string{{"<@U01ALICE>", "@alice"}, {"<@U02BOB>", "@bob"}, {"<@U03CAROL>", "@carol"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}} {
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
	if strings.HasPrefix(ev.Text, "Approval needed") && ev.Kind == slackfake.EventPosted {
		// A prompt: its notification text names the step and who is asked; then what
		// changes and how it is undone (its first section's next lines).
		lines := strings.Split(strings.TrimSpace(ev.Body), "\n")
		who := "   ↳ cutoverbot: "
		if ev.Broadcast {
			who = "   ↳ cutoverbot (also sent to #meshdb): "
		}
		fmt.Fprintf(t.out, "%s%s\n", who, oneLine(ev.Text, 220))
		if len(lines) >= 3 {
			fmt.Fprintf(t.out, "        %s\n        %s\n", oneLine(lines[1], 200), oneLine(strings.Trim(lines[2], "_"), 200))
		}
		return
	}
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
		if ev.Broadcast {
			fmt.Fprintf(t.out, "   ↳ cutoverbot (also sent to #meshdb): %s\n", oneLine(ev.Text, 220))
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
