package steps

import (
	"errors"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// PRWords word the pull requests the bot opens: people read their titles, bodies and
// commit messages on GitHub. ops/ writes no sentence, so the production wiring passes
// the transport's (handlers.PRTitle, PRBody, PRCommitMessage), as it passes the
// transport itself.
type PRWords struct {
	Title, Body, CommitMessage func(report.PullRequest) string
}

// UsePRWords sets the words of the pull requests the executor's steps open.
func (e *Executor) UsePRWords(w PRWords) { e.prWords = w }

// errNoPRWords: the wiring gave no words, and a pull request without a title is not
// one to open.
var errNoPRWords = errors.New("this bot was built without the words of its pull requests (steps.Executor.UsePRWords); Skip the step with a reason and open the pull request by hand")

// prText is the title, body and commit message of pr.
func (e *Executor) prText(pr report.PullRequest) (title, body, commit string, err error) {
	w := e.prWords
	if w.Title == nil || w.Body == nil || w.CommitMessage == nil {
		return "", "", "", errNoPRWords
	}
	return w.Title(pr), w.Body(pr), w.CommitMessage(pr), nil
}
