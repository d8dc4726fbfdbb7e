package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"
	"k8s.io/apimachinery/pkg/util/wait"
)

// PR is a pull request as the thread shows it.
type PR struct {
	Repo   string
	Number int
	URL    string // html_url, for people
	State  string // open or closed
	Merged bool
	Branch string
	// Base is the branch the PR merges into.
	Base string
	// BaseSHA is the base branch's commit the PR was opened against.
	BaseSHA string
	// HeadSHA is the head of the PR's branch when read (kept once merged). A PR
	// returned by OpenChange or Revert has been compared with the bot's change at
	// this head: merge it by this sha.
	HeadSHA string
	// MergeSHA is the commit the merge made on the base branch.
	MergeSHA string
}

// ChangeRequest is one change to open as a PR.
type ChangeRequest struct {
	Repo, Base, Title, Body, CommitMessage string
	// Branch is the PR's branch; derive it from the run ID (cutoverbot/<run>-dns) so a
	// retry finds what an earlier attempt made.
	Branch string
	// Files maps a path to the edit to apply to its content on Base.
	Files map[string]func([]byte) ([]byte, error)
}

// Text is what people read of a PR the bot opens: the caller words it (the
// transport's words, which the wiring hands to the steps).
type Text struct {
	Title, Body, CommitMessage string
}

// OpenChange makes the branch from Base, commits the edited files to it and opens the
// PR. It is idempotent: when a PR for Branch exists (open, merged or closed) it is
// returned; a branch left by an attempt that failed before opening the PR is reused.
// An edit that fails opens nothing. Whichever PR it returns has been compared with the
// edits (CheckChange): it holds exactly them at its HeadSHA, or the error is a
// *MismatchError showing both versions.
func (c *Client) OpenChange(ctx context.Context, req ChangeRequest) (PR, error) {
	if err := checkRepo(req.Repo); err != nil {
		return PR{}, err
	}
	if req.Branch == "" || req.Base == "" || req.Branch == req.Base {
		return PR{}, fmt.Errorf("a change needs a branch of its own (branch %q, base %q)", req.Branch, req.Base)
	}
	if len(req.Files) == 0 {
		return PR{}, fmt.Errorf("a change to %s without files", req.Repo)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(6+4*len(req.Files))*c.timeout)
	defer cancel()
	owner, name := split(req.Repo)
	if pr, ok, err := c.findPR(ctx, req.Repo, req.Branch); err != nil {
		return pr, err
	} else if ok {
		return c.CheckChange(ctx, pr, req.Files)
	}
	base, _, err := c.gh.Repositories.GetBranch(ctx, owner, name, req.Base, 1)
	if err != nil {
		return PR{}, fmt.Errorf("read branch %s of %s: %w", req.Base, req.Repo, err)
	}
	baseSHA := base.GetCommit().GetSHA()
	// Every edit runs before anything is written, so a refused edit leaves no branch.
	paths := make([]string, 0, len(req.Files))
	for p := range req.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	edited := map[string][]byte{}
	for _, path := range paths {
		text, _, err := c.content(ctx, req.Repo, path, baseSHA)
		if err != nil {
			return PR{}, err
		}
		out, err := req.Files[path]([]byte(text))
		if err != nil {
			return PR{}, fmt.Errorf("%s in %s: %w", path, req.Repo, err)
		}
		edited[path] = out
	}
	_, resp, err := c.gh.Git.GetRef(ctx, owner, name, "heads/"+req.Branch)
	switch {
	case err == nil: // left by an earlier attempt
	case resp != nil && resp.StatusCode == http.StatusNotFound:
		ref := &gh.Reference{Ref: gh.String("refs/heads/" + req.Branch), Object: &gh.GitObject{SHA: gh.String(baseSHA)}}
		if _, _, err := c.gh.Git.CreateRef(ctx, owner, name, ref); err != nil {
			return PR{}, fmt.Errorf("create branch %s in %s (the token needs contents write): %w", req.Branch, req.Repo, err)
		}
	default:
		return PR{}, fmt.Errorf("read branch %s of %s: %w", req.Branch, req.Repo, err)
	}
	for _, path := range paths {
		cur, sha, err := c.content(ctx, req.Repo, path, req.Branch)
		if err != nil {
			return PR{}, err
		}
		if cur == string(edited[path]) {
			continue // committed by an earlier attempt
		}
		msg := req.CommitMessage
		if msg == "" {
			msg = req.Title
		}
		if _, _, err := c.gh.Repositories.UpdateFile(ctx, owner, name, path, &gh.RepositoryContentFileOptions{
			Message: gh.String(msg), Content: edited[path], SHA: gh.String(sha), Branch: gh.String(req.Branch)}); err != nil {
			return PR{}, fmt.Errorf("commit %s to branch %s of %s: %w", path, req.Branch, req.Repo, err)
		}
	}
	p, _, err := c.gh.PullRequests.Create(ctx, owner, name, &gh.NewPullRequest{Title: gh.String(req.Title), Head: gh.String(req.Branch), Base: gh.String(req.Base), Body: gh.String(req.Body)})
	if err != nil {
		// A PR opened by a concurrent attempt (GitHub answers 422) is the one we want.
		if pr, ok, ferr := c.findPR(ctx, req.Repo, req.Branch); ferr == nil && ok {
			return c.CheckChange(ctx, pr, req.Files)
		}
		return PR{}, fmt.Errorf("open the pull request %s → %s in %s: %w", req.Branch, req.Base, req.Repo, err)
	}
	return c.CheckChange(ctx, toPR(req.Repo, p), req.Files)
}

// content reads a file at a ref, with its blob sha.
func (c *Client) content(ctx context.Context, repo, path, ref string) (string, string, error) {
	owner, name := split(repo)
	ctx, cancel := c.call(ctx)
	defer cancel()
	fc, _, resp, err := c.gh.Repositories.GetContents(ctx, owner, name, path, &gh.RepositoryContentGetOptions{Ref: ref})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return "", "", fmt.Errorf("%s is not in %s at %s (check the configured file path): %w", path, repo, short(ref), err)
		}
		return "", "", fmt.Errorf("read %s in %s at %s: %w", path, repo, short(ref), err)
	}
	if fc == nil {
		return "", "", fmt.Errorf("%s in %s is a directory, not a file", path, repo)
	}
	text, err := fc.GetContent()
	if err != nil {
		return "", "", fmt.Errorf("decode %s in %s: %w", path, repo, err)
	}
	return text, fc.GetSHA(), nil
}

func (c *Client) findPR(ctx context.Context, repo, branch string) (PR, bool, error) {
	owner, name := split(repo)
	cctx, cancel := c.call(ctx)
	defer cancel()
	list, _, err := c.gh.PullRequests.List(cctx, owner, name, &gh.PullRequestListOptions{Head: owner + ":" + branch, State: "all", ListOptions: gh.ListOptions{PerPage: 10}})
	if err != nil {
		return PR{}, false, fmt.Errorf("list pull requests of %s: %w", repo, err)
	}
	for _, p := range list {
		if p.GetHead().GetRef() == branch {
			return toPR(repo, p), true, nil
		}
	}
	return PR{}, false, nil
}

func toPR(repo string, p *gh.PullRequest) PR {
	return PR{Repo: repo, Number: p.GetNumber(), URL: p.GetHTMLURL(), State: p.GetState(),
		// List answers carry merged_at but no merged flag.
		Merged: p.GetMerged() || p.MergedAt != nil,
		Branch: p.GetHead().GetRef(), Base: p.GetBase().GetRef(), BaseSHA: p.GetBase().GetSHA(), HeadSHA: p.GetHead().GetSHA(), MergeSHA: p.GetMergeCommitSHA()}
}

// Merge merges a PR with a merge commit, only if its branch still ends at headSHA
// (the head compared with the bot's change): without a sha GitHub merges whatever the
// branch holds at that moment. When GitHub refuses for branch protection (required
// reviews or checks, 405; 403), merged is false with GitHub's reason and err is nil:
// the bot then waits for a person to merge. When the branch has moved (409), err is
// ErrHeadMoved: compare again. A PR that is already merged counts as merged.
func (c *Client) Merge(ctx context.Context, pr PR, headSHA, message string) (merged bool, reason string, err error) {
	if err := checkRepo(pr.Repo); err != nil {
		return false, "", err
	}
	if headSHA == "" {
		return false, "", fmt.Errorf("merge %s: no head sha given; only a head compared with the bot's change may be merged", pr.URL)
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	owner, name := split(pr.Repo)
	res, resp, err := c.gh.PullRequests.Merge(cctx, owner, name, pr.Number, message, &gh.PullRequestOptions{MergeMethod: "merge", SHA: headSHA})
	if err != nil {
		var er *gh.ErrorResponse
		if resp != nil && errors.As(err, &er) && (resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusConflict || resp.StatusCode == http.StatusForbidden) {
			if now, gerr := c.Get(ctx, pr.Repo, pr.Number); gerr == nil && now.Merged {
				return true, "already merged", nil
			}
			reason := er.Message
			if reason == "" {
				reason = resp.Status
			}
			if resp.StatusCode == http.StatusConflict {
				return false, reason, fmt.Errorf("merge %s at %s: %w (%s)", pr.URL, short(headSHA), ErrHeadMoved, reason)
			}
			return false, reason, nil
		}
		return false, "", fmt.Errorf("merge %s#%d: %w", pr.Repo, pr.Number, err)
	}
	return res.GetMerged(), res.GetMessage(), nil
}

// Get reads a PR.
func (c *Client) Get(ctx context.Context, repo string, number int) (PR, error) {
	if err := checkRepo(repo); err != nil {
		return PR{}, err
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	owner, name := split(repo)
	p, _, err := c.gh.PullRequests.Get(ctx, owner, name, number)
	if err != nil {
		return PR{}, fmt.Errorf("read %s#%d: %w", repo, number, err)
	}
	return toPR(repo, p), nil
}

// PRState reads a PR (the same as Get).
func (c *Client) PRState(ctx context.Context, repo string, number int) (PR, error) {
	return c.Get(ctx, repo, number)
}

// WaitMerged polls every `every` until the PR is merged. A PR closed without merging
// is an error; read errors are retried and the last one is reported when ctx ends.
// progress, if set, sees the PR after every poll that did not find it merged.
func (c *Client) WaitMerged(ctx context.Context, pr PR, every time.Duration, progress func(PR)) (PR, error) {
	if every <= 0 {
		every = 15 * time.Second
	}
	var lastErr, closed error
	last := pr
	err := wait.PollUntilContextCancel(ctx, every, true, func(ctx context.Context) (bool, error) {
		p, err := c.Get(ctx, pr.Repo, pr.Number)
		if ctx.Err() == nil {
			lastErr = err // a read cut short by the end of the wait says nothing new
		}
		if err != nil {
			return false, nil
		}
		last = p
		if p.Merged {
			return true, nil
		}
		if p.State == "closed" {
			closed = fmt.Errorf("%s was closed without merging; reopen and merge it, or abort the run", p.URL)
			return false, closed
		}
		if progress != nil {
			progress(p)
		}
		return false, nil
	})
	switch {
	case err == nil:
		return last, nil
	case closed != nil:
		return last, closed
	case lastErr != nil:
		return last, fmt.Errorf("waiting for %s to be merged: %w (last read failed: %v)", pr.URL, ctx.Err(), lastErr)
	default:
		return last, fmt.Errorf("waiting for %s to be merged: %w", pr.URL, ctx.Err())
	}
}

// Revert opens a PR (on branch, against base, worded as text) that puts the files a
// merged PR changed back as they were before it. files may be nil: then the PR's own file list is used.
// A file changed on base since the merge is not overwritten: that is an error for a
// person to resolve. Idempotent like OpenChange, and like it the PR returned has been
// compared with the change: each file as it was before the merged PR.
func (c *Client) Revert(ctx context.Context, merged PR, base, branch string, files []string, text Text) (PR, error) {
	if err := checkRepo(merged.Repo); err != nil {
		return PR{}, err
	}
	if !merged.Merged {
		return PR{}, fmt.Errorf("%s is not merged: there is nothing to revert", merged.URL)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(8+6*len(files))*c.timeout)
	defer cancel()
	owner, name := split(merged.Repo)
	if merged.HeadSHA == "" || merged.BaseSHA == "" {
		full, err := c.Get(ctx, merged.Repo, merged.Number)
		if err != nil {
			return PR{}, err
		}
		merged = full
	}
	if len(files) == 0 {
		list, _, err := c.gh.PullRequests.ListFiles(ctx, owner, name, merged.Number, &gh.ListOptions{PerPage: 100})
		if err != nil {
			return PR{}, fmt.Errorf("list the files of %s: %w", merged.URL, err)
		}
		for _, f := range list {
			files = append(files, f.GetFilename())
		}
	}
	// The state before the PR is where its branch left the base.
	cmp, _, err := c.gh.Repositories.CompareCommits(ctx, owner, name, merged.BaseSHA, merged.HeadSHA, nil)
	if err != nil {
		return PR{}, fmt.Errorf("find where %s started: %w", merged.URL, err)
	}
	before := cmp.GetMergeBaseCommit().GetSHA()
	if before == "" {
		before = merged.BaseSHA
	}
	olds := map[string]string{}
	restore := map[string]func([]byte) ([]byte, error){}
	for _, path := range files {
		old, _, err := c.content(ctx, merged.Repo, path, before)
		if err != nil {
			return PR{}, fmt.Errorf("%s as it was before %s: %w", path, merged.URL, err)
		}
		olds[path] = old
		restore[path] = func([]byte) ([]byte, error) { return []byte(old), nil }
	}
	if existing, ok, err := c.findPR(ctx, merged.Repo, branch); err != nil {
		return existing, err
	} else if ok {
		return c.CheckChange(ctx, existing, restore)
	}
	todo := map[string]func([]byte) ([]byte, error){}
	var changed []string
	for _, path := range files {
		after, _, err := c.content(ctx, merged.Repo, path, merged.HeadSHA)
		if err != nil {
			return PR{}, err
		}
		now, _, err := c.content(ctx, merged.Repo, path, base)
		if err != nil {
			return PR{}, err
		}
		switch now {
		case olds[path]:
			continue // already back as it was
		case after:
		default:
			changed = append(changed, path)
		}
		todo[path] = restore[path]
	}
	if len(changed) > 0 {
		return PR{}, fmt.Errorf("%s changed on %s since %s was merged; revert it by hand so the later change is kept", strings.Join(changed, ", "), base, merged.URL)
	}
	if len(todo) == 0 {
		return PR{}, fmt.Errorf("%s already read on %s as before %s: nothing to revert", strings.Join(files, ", "), base, merged.URL)
	}
	return c.OpenChange(ctx, ChangeRequest{Repo: merged.Repo, Base: base, Branch: branch, Files: todo,
		Title: text.Title, CommitMessage: text.CommitMessage, Body: text.Body})
}
