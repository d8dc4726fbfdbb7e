package github

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLineDiff(t *testing.T) {
	for _, tc := range []struct {
		name, a, b string
		want       []string
	}{
		{"same", "a\nb\n", "a\nb\n", nil},
		{"one line changed", "a\nb\nc\n", "a\nB\nc\n", []string{"-2: b", "+2: B"}},
		{"a line added", "a\nc\n", "a\nb\nc\n", []string{"+2: b"}},
		{"a line removed", "a\nb\nc\n", "a\nc\n", []string{"-2: b"}},
		{"two places", "a\nb\nc\nd\ne\n", "a\nx\nc\nd\ny\n", []string{"-2: b", "+2: x", "-5: e", "+5: y"}},
		{"from nothing", "", "a\n", []string{"+1: a"}},
		{"a repeated line moved", "x\na\nx\n", "a\nx\nx\n", []string{"-1: x", "+2: x"}},
		{"a code fence cannot end the block", "a\n", "```\n", []string{"-1: a", "+1: '''"}},
	} {
		assert.Equal(t, tc.want, lineDiff(tc.a, tc.b), tc.name)
	}
	// Files too large to align line by line still show what lies between their common ends.
	big := strings.Repeat("same\n", 10) + strings.Repeat("a\n", 3000) + "end\n"
	other := strings.Repeat("same\n", 10) + strings.Repeat("b\n", 3000) + "end\n"
	got := lineDiff(big, other)
	assert.Len(t, got, 6000)
	assert.Equal(t, "-11: a", got[0])
	assert.Equal(t, "+11: b", got[3000])
}
