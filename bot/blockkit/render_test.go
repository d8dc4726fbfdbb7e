package blockkit_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/bot/blockkit"
	"github.com/nycmeshnet/cutoverbot/bot/message"
)

func sectionTexts(t *testing.T, blocks []slack.Block) []string {
	var out []string
	for _, b := range blocks {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil {
			out = append(out, s.Text.Text)
		}
	}
	return out
}

func TestRenderStaysWithinSlackLimits(t *testing.T) {
	long := strings.Repeat("line with ünïcode and <brackets>\n", 400) // ~13 KB
	text, blocks := blockkit.Render(message.Message{Text: strings.Repeat("é", 5000), Sections: []string{long}, Code: long,
		Buttons: []message.Button{{Label: strings.Repeat("x", 200), ActionID: "approve", Value: "r|1|1"}}})
	assert.LessOrEqual(t, len(text), blockkit.MaxText)
	assert.True(t, utf8.ValidString(text), "clipped on a rune boundary")
	assert.LessOrEqual(t, len(blocks), blockkit.MaxBlocks)
	texts := sectionTexts(t, blocks)
	require.Greater(t, len(texts), 4, "long text is split over several sections")
	for _, s := range texts {
		assert.LessOrEqual(t, len(s), blockkit.MaxSectionText)
		assert.True(t, utf8.ValidString(s))
	}
	raw, err := json.Marshal(blocks)
	require.NoError(t, err)
	assert.Contains(t, string(raw), "\\u0026lt;brackets\\u0026gt;", "code is escaped for mrkdwn")
	_, isActions := blocks[len(blocks)-1].(*slack.ActionBlock)
	assert.True(t, isActions, "the buttons survive shortening")
}

func TestTooManyBlocksAreCutKeepingTheActions(t *testing.T) {
	var sections []string
	for i := 0; i < 80; i++ {
		sections = append(sections, "s")
	}
	_, blocks := blockkit.Render(message.Message{Sections: sections, Buttons: []message.Button{{Label: "Approve", ActionID: "approve", Value: "v"}},
		Context: []string{"needs 1 approval"}})
	require.Len(t, blocks, blockkit.MaxBlocks)
	_, isActions := blocks[len(blocks)-1].(*slack.ActionBlock)
	assert.True(t, isActions, "the buttons survive even with context after them")
	assert.Contains(t, sectionTexts(t, blocks)[len(sectionTexts(t, blocks))-1], "shortened")
}

func TestContextTakesTenElementsPerBlock(t *testing.T) {
	var lines []string
	for i := 0; i < 23; i++ {
		lines = append(lines, "command")
	}
	_, blocks := blockkit.Render(message.Message{Text: "t", Context: lines})
	require.Len(t, blocks, 3)
	for _, b := range blocks {
		c, ok := b.(*slack.ContextBlock)
		require.True(t, ok)
		assert.LessOrEqual(t, len(c.ContextElements.Elements), blockkit.MaxContextEls)
	}
}

func TestModalStaysWithinSlackLimits(t *testing.T) {
	v := blockkit.RenderModal(message.Modal{Title: "Skip step 12 of the cutover", Submit: "Skip step", Close: "Cancel", CallbackID: "decide",
		Metadata: `{"run":"r"}`, Sections: []string{"what happens"},
		Inputs: []message.Input{{ID: "reason", Label: "Why", Placeholder: strings.Repeat("p", 300), Multiline: true, MinLength: 3}}})
	assert.Equal(t, slack.VTModal, v.Type)
	assert.LessOrEqual(t, utf8.RuneCountInString(v.Title.Text), blockkit.MaxViewTitle)
	require.Len(t, v.Blocks.BlockSet, 2)
	in, ok := v.Blocks.BlockSet[1].(*slack.InputBlock)
	require.True(t, ok)
	assert.Equal(t, "reason", in.BlockID)
	el := in.Element.(*slack.PlainTextInputBlockElement)
	assert.Equal(t, "reason", el.ActionID)
	assert.Equal(t, 3, el.MinLength)
	assert.Equal(t, blockkit.MaxInputValue, el.MaxLength)
	assert.LessOrEqual(t, utf8.RuneCountInString(el.Placeholder.Text), blockkit.MaxPlaceholder)
	assert.False(t, in.Optional)
}
