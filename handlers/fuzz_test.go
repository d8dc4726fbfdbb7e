package handlers_test

import (
	"context"
	"strings"
	"testing"
	"unicode"

	"github.com/nycmeshnet/cutoverbot/handlers"
)

// FuzzCommandText feeds arbitrary command text, as any workspace member can type it,
// to the handler as a non-maintainer, then as a maintainer. Whatever the text: no
// panic, no run started by the non-maintainer nor by text holding a control character
// (a tab or a line break too), every private reply bounded and free of broadcast
// mentions.
func FuzzCommandText(f *testing.F) {
	for _, s := range []string{"", "help", "start prod2 prod1", "start prod2 prod9", "start <!channel> prod1", "skip '; DROP TABLE x; --",
		"schedule prod2 prod1 \"2026-12-01 02:00\"", "unschedule 1", "status", "plan prod2 prod1", "history", "abort because",
		"start \u202eprod2 prod1", "start prod2\x00 prod1", "start prod2\nprod1", "start prod2\tprod1", strings.Repeat("start ", 300), "стартовать", "skip <@U01ALICE> &amp;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		fx := newFixture(t)
		for _, user := range []string{"U09EVE", "U01ALICE"} {
			fx.h.HandleCommand(context.Background(), handlers.Command{UserID: user, ChannelID: fx.ch, Text: text, ResponseURL: user})
			fx.settle()
			if r := fx.eng.Active(); r != nil && user != "U01ALICE" {
				t.Fatalf("%s, not a maintainer, started a run with %q", user, text)
			}
			if r := fx.eng.Active(); r != nil && strings.IndexFunc(text, unicode.IsControl) >= 0 {
				t.Fatalf("a command with a control character started a run: %q", text)
			}
			for _, p := range fx.poster.private(user) {
				if len(p) > 40000 {
					t.Fatalf("a reply of %d bytes to %q", len(p), text)
				}
				if strings.Contains(p, "<!channel>") || strings.Contains(p, "<!here>") || strings.Contains(p, "<!everyone>") {
					t.Fatalf("a broadcast mention echoed in %q", p)
				}
			}
		}
	})
}

func FuzzCleanUserText(f *testing.F) {
	for _, s := range []string{"<!channel>", "a&b", "\u202e", "x\x00y", "<@U01>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := handlers.CleanUserText(s)
		if strings.ContainsAny(out, "<>") {
			t.Fatalf("%q -> %q keeps < or >", s, out)
		}
		for _, r := range out {
			if unicode.IsControl(r) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) {
				t.Fatalf("%q -> %q keeps %U", s, out, r)
			}
		}
	})
}
