package handlers

import "github.com/nycmeshnet/cutoverbot/ops/report"

// PRTitle is the title of a pull request the bot opens.
func PRTitle(pr report.PullRequest) string { return say("github/title", pr) }

// PRBody is the body of a pull request the bot opens.
func PRBody(pr report.PullRequest) string { return say("github/body", pr) }

// PRCommitMessage is the message of the commits of a pull request the bot opens.
func PRCommitMessage(pr report.PullRequest) string { return say("github/commit", pr) }
