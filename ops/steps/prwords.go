package steps

import "github.com/nycmeshnet/cutoverbot/ops/report"

// PRWords word the pull requests the bot opens: people read their titles, bodies and
// commit messages on GitHub. ops/ writes no sentence, so the production wiring passes
// the transport's (handlers.PRTitle, PRBody, PRCommitMessage) to RegisterTrafficSteps,
// as it passes the transport itself.
type PRWords struct {
	Title, Body, CommitMessage func(report.PullRequest) string
}

// prText is the title, body and commit message of pr. Without words (a wiring that
// passed none) there is no pull request to open: a pull request without a title is
// not one.
func (t *TrafficSteps) prText(pr report.PullRequest) (title, body, commit string, err error) {
	w := t.words
	if w.Title == nil || w.Body == nil || w.CommitMessage == nil {
		return "", "", "", report.Fail(report.NoPRWords{}, nil)
	}
	return w.Title(pr), w.Body(pr), w.CommitMessage(pr), nil
}
