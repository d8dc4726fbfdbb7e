// Package github is the bot's GitHub side (go-github v62): is the destination running
// the newest MeshDB, and the two pull requests of the traffic switch (DNS and
// certificates), merged through the API when allowed, with revert PRs for rollback.
package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"
)

// Client talks to one GitHub API.
type Client struct {
	gh      *gh.Client
	timeout time.Duration
}

// New makes a client. apiURL is the REST root as configured ("" = api.github.com);
// it is used as is, since WithEnterpriseURLs would append /api/v3/ to a bare host.
func New(apiURL, token string, hc *http.Client) (*Client, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	c := gh.NewClient(hc).WithAuthToken(token)
	if apiURL != "" {
		u, err := url.Parse(strings.TrimRight(apiURL, "/") + "/")
		if err != nil {
			return nil, fmt.Errorf("github.api_url: %w", err)
		}
		c.BaseURL = u
	}
	return &Client{gh: c, timeout: 30 * time.Second}, nil
}

func split(repo string) (string, string) {
	o, r, _ := strings.Cut(repo, "/")
	return o, r
}

func (c *Client) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// Status says whether an environment runs the branch head.
type Status struct {
	HeadSHA, DeployedSHA string
	Behind               int
	RunningDeploys       []string
	OK                   bool
	Problem              string
}

// DeployedLatest checks that the environment's newest successful deployment is of the
// branch head and that no run of the deploy workflow is going on (a deploy resets
// replica counts).
func (c *Client) DeployedLatest(ctx context.Context, repo, branch, environment, workflowFile string) (Status, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	owner, name := split(repo)
	var st Status
	b, _, err := c.gh.Repositories.GetBranch(ctx, owner, name, branch, 1)
	if err != nil {
		return st, fmt.Errorf("read %s@%s: %w", repo, branch, err)
	}
	st.HeadSHA = b.GetCommit().GetSHA()
	deps, _, err := c.gh.Repositories.ListDeployments(ctx, owner, name, &gh.DeploymentsListOptions{Environment: environment, ListOptions: gh.ListOptions{PerPage: 30}})
	if err != nil {
		return st, fmt.Errorf("list deployments of %s to %s: %w", repo, environment, err)
	}
	sort.SliceStable(deps, func(i, j int) bool { return deps[i].GetCreatedAt().After(deps[j].GetCreatedAt().Time) })
	for _, d := range deps {
		statuses, _, err := c.gh.Repositories.ListDeploymentStatuses(ctx, owner, name, d.GetID(), &gh.ListOptions{PerPage: 1})
		if err != nil {
			return st, fmt.Errorf("read deployment %d: %w", d.GetID(), err)
		}
		if len(statuses) > 0 && statuses[0].GetState() == "success" {
			st.DeployedSHA = d.GetSHA()
			break
		}
	}
	for _, s := range []string{"in_progress", "queued", "waiting"} {
		runs, _, err := c.gh.Actions.ListWorkflowRunsByFileName(ctx, owner, name, workflowFile, &gh.ListWorkflowRunsOptions{Status: s})
		if err != nil {
			return st, fmt.Errorf("list runs of %s: %w", workflowFile, err)
		}
		for _, r := range runs.WorkflowRuns {
			st.RunningDeploys = append(st.RunningDeploys, r.GetHTMLURL())
		}
	}
	switch {
	case st.DeployedSHA == "":
		st.Problem = fmt.Sprintf("no successful deployment of %s to %s", repo, environment)
	case st.DeployedSHA != st.HeadSHA:
		cmp, _, err := c.gh.Repositories.CompareCommits(ctx, owner, name, st.DeployedSHA, st.HeadSHA, nil)
		if err == nil {
			st.Behind = cmp.GetAheadBy()
		}
		st.Problem = fmt.Sprintf("%s runs %s, %d commit(s) behind %s@%s (%s): deploy main first", environment, short(st.DeployedSHA), st.Behind, repo, branch, short(st.HeadSHA))
	case len(st.RunningDeploys) > 0:
		st.Problem = fmt.Sprintf("a %s run is in progress (%s); wait for it: a deploy resets the replica counts", workflowFile, strings.Join(st.RunningDeploys, ", "))
	default:
		st.OK = true
	}
	return st, nil
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// Access says whether the token can read and push to a repository.
func (c *Client) Access(ctx context.Context, repo string) (pull, push bool, err error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	owner, name := split(repo)
	r, _, err := c.gh.Repositories.Get(ctx, owner, name)
	if err != nil {
		return false, false, fmt.Errorf("read %s: %w", repo, err)
	}
	p := r.GetPermissions()
	return p["pull"], p["push"], nil
}

// PR is a pull request as the thread shows it.
type PR struct {
	Repo    string
	Number  int
	URL     string
	State   string
	Merged  bool
	Branch  string
	BaseSHA string
}

// ChangeRequest is one change to open as a PR.
type ChangeRequest struct {
	Repo, Base, Branch, Title, Body, CommitMessage string
	// Files maps a path to the edit to apply to its content on Base.
	Files map[string]func([]byte) ([]byte, error)
}

// OpenChange makes the branch, commits the edited files and opens the PR. It is
// idempotent: a retry finds the branch and PR it made before.
func (c *Client) OpenChange(ctx context.Context, req ChangeRequest) (PR, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*c.timeout)
	defer cancel()
	owner, name := split(req.Repo)
	if pr, ok, err := c.findPR(ctx, req.Repo, req.Branch); err != nil || ok {
		return pr, err
	}
	base, _, err := c.gh.Repositories.GetBranch(ctx, owner, name, req.Base, 1)
	if err != nil {
		return PR{}, fmt.Errorf("read %s@%s: %w", req.Repo, req.Base, err)
	}
	baseSHA := base.GetCommit().GetSHA()
	_, resp, err := c.gh.Git.GetRef(ctx, owner, name, "heads/"+req.Branch)
	switch {
	case err == nil: // the branch is there from an earlier attempt
	case resp != nil && resp.StatusCode == http.StatusNotFound:
		if _, _, err := c.gh.Git.CreateRef(ctx, owner, name, &gh.Reference{Ref: gh.String("refs/heads/" + req.Branch), Object: &gh.GitObject{SHA: gh.String(baseSHA)}}); err != nil {
			return PR{}, fmt.Errorf("create branch %s in %s: %w", req.Branch, req.Repo, err)
		}
	default:
		return PR{}, fmt.Errorf("read branch %s in %s: %w", req.Branch, req.Repo, err)
	}
	paths := make([]string, 0, len(req.Files))
	for p := range req.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		onBase, _, _, err := c.gh.Repositories.GetContents(ctx, owner, name, path, &gh.RepositoryContentGetOptions{Ref: baseSHA})
		if err != nil {
			return PR{}, fmt.Errorf("read %s in %s: %w", path, req.Repo, err)
		}
		text, err := onBase.GetContent()
		if err != nil {
			return PR{}, err
		}
		edited, err := req.Files[path]([]byte(text))
		if err != nil {
			return PR{}, fmt.Errorf("%s in %s: %w", path, req.Repo, err)
		}
		onBranch, _, _, err := c.gh.Repositories.GetContents(ctx, owner, name, path, &gh.RepositoryContentGetOptions{Ref: req.Branch})
		if err != nil {
			return PR{}, fmt.Errorf("read %s on %s: %w", path, req.Branch, err)
		}
		if cur, _ := onBranch.GetContent(); cur == string(edited) {
			continue // committed by an earlier attempt
		}
		if _, _, err := c.gh.Repositories.UpdateFile(ctx, owner, name, path, &gh.RepositoryContentFileOptions{
			Message: gh.String(req.CommitMessage), Content: edited, SHA: onBranch.SHA, Branch: gh.String(req.Branch)}); err != nil {
			return PR{}, fmt.Errorf("commit %s to %s: %w", path, req.Branch, err)
		}
	}
	p, _, err := c.gh.PullRequests.Create(ctx, owner, name, &gh.NewPullRequest{Title: gh.String(req.Title), Head: gh.String(req.Branch), Base: gh.String(req.Base), Body: gh.String(req.Body)})
	if err != nil {
		return PR{}, fmt.Errorf("open the pull request in %s: %w", req.Repo, err)
	}
	return toPR(req.Repo, p), nil
}

func (c *Client) findPR(ctx context.Context, repo, branch string) (PR, bool, error) {
	owner, name := split(repo)
	list, _, err := c.gh.PullRequests.List(ctx, owner, name, &gh.PullRequestListOptions{Head: owner + ":" + branch, State: "all"})
	if err != nil {
		return PR{}, false, fmt.Errorf("list pull requests in %s: %w", repo, err)
	}
	for _, p := range list {
		if p.GetHead().GetRef() == branch {
			return toPR(repo, p), true, nil
		}
	}
	return PR{}, false, nil
}

func toPR(repo string, p *gh.PullRequest) PR {
	return PR{Repo: repo, Number: p.GetNumber(), URL: p.GetHTMLURL(), State: p.GetState(), Merged: p.GetMerged(), Branch: p.GetHead().GetRef(), BaseSHA: p.GetBase().GetSHA()}
}

// Merge merges a PR. When branch protection refuses, merged is false with the reason,
// and err is nil: the bot then waits for a person to merge.
func (c *Client) Merge(ctx context.Context, pr PR, message string) (merged bool, reason string, err error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	owner, name := split(pr.Repo)
	res, resp, err := c.gh.PullRequests.Merge(ctx, owner, name, pr.Number, message, &gh.PullRequestOptions{MergeMethod: "merge"})
	if err != nil {
		var er *gh.ErrorResponse
		if resp != nil && (resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusConflict || resp.StatusCode == http.StatusForbidden) && errors.As(err, &er) {
			return false, er.Message, nil
		}
		return false, "", fmt.Errorf("merge %s#%d: %w", pr.Repo, pr.Number, err)
	}
	return res.GetMerged(), res.GetMessage(), nil
}

// Get reads a PR's state.
func (c *Client) Get(ctx context.Context, repo string, number int) (PR, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	owner, name := split(repo)
	p, _, err := c.gh.PullRequests.Get(ctx, owner, name, number)
	if err != nil {
		return PR{}, fmt.Errorf("read %s#%d: %w", repo, number, err)
	}
	return toPR(repo, p), nil
}

// WaitMerged polls until the PR is merged; a PR closed without merging is an error.
func (c *Client) WaitMerged(ctx context.Context, pr PR, every time.Duration, progress func(PR)) (PR, error) {
	for {
		p, err := c.Get(ctx, pr.Repo, pr.Number)
		if err == nil {
			if p.Merged {
				return p, nil
			}
			if p.State == "closed" {
				return p, fmt.Errorf("%s was closed without merging", p.URL)
			}
			if progress != nil {
				progress(p)
			}
		}
		select {
		case <-ctx.Done():
			return p, fmt.Errorf("waiting for %s to be merged: %w", pr.URL, ctx.Err())
		case <-time.After(every):
		}
	}
}

// Revert opens a PR that puts the files a merged PR changed back as they were on its
// base when it was opened. Idempotent like OpenChange.
func (c *Client) Revert(ctx context.Context, merged PR, base, branch string, files []string, body string) (PR, error) {
	owner, name := split(merged.Repo)
	before := map[string]string{}
	for _, path := range files {
		fc, _, _, err := c.gh.Repositories.GetContents(ctx, owner, name, path, &gh.RepositoryContentGetOptions{Ref: merged.BaseSHA})
		if err != nil {
			return PR{}, fmt.Errorf("read %s as it was before %s: %w", path, merged.URL, err)
		}
		text, err := fc.GetContent()
		if err != nil {
			return PR{}, err
		}
		before[path] = text
	}
	edits := map[string]func([]byte) ([]byte, error){}
	for path, text := range before {
		edits[path] = func([]byte) ([]byte, error) { return []byte(text), nil }
	}
	return c.OpenChange(ctx, ChangeRequest{Repo: merged.Repo, Base: base, Branch: branch, Files: edits,
		Title: fmt.Sprintf("Revert #%d", merged.Number), CommitMessage: fmt.Sprintf("Revert #%d", merged.Number), Body: body})
}
