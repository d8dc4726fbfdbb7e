// Package github is the bot's GitHub side (go-github v62): is the destination running
// the newest MeshDB, and the two pull requests of the traffic switch (DNS and
// certificates), merged through the API when allowed, with revert PRs for rollback.
// The file edits themselves (EditDNSAnswer, EditFQDNList) are pure functions.
package github

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// DefaultCallTimeout bounds each GitHub API call.
const DefaultCallTimeout = 30 * time.Second

// Client talks to one GitHub API. It holds the token only inside the HTTP transport
// of go-github, so nothing here can print it.
type Client struct {
	gh      *gh.Client
	timeout time.Duration
}

// New makes a client. apiURL is the REST root as configured: "" means
// https://api.github.com/, anything else is used as is (https://ghe.example/api/v3/,
// http://127.0.0.1:PORT/), since WithEnterpriseURLs would append /api/v3/ to a bare
// host. httpClient may be nil.
func New(apiURL, token string, httpClient *http.Client) (*Client, error) {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 2 * DefaultCallTimeout}
	}
	c := gh.NewClient(httpClient)
	if token != "" {
		c = c.WithAuthToken(token)
	}
	if apiURL != "" {
		u, err := url.Parse(strings.TrimRight(apiURL, "/") + "/")
		if err != nil {
			return nil, fmt.Errorf("github.api_url %q: %w", apiURL, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("github.api_url %q must be an http(s) URL such as https://api.github.com/", apiURL)
		}
		c.BaseURL = u
	}
	return &Client{gh: c, timeout: DefaultCallTimeout}, nil
}

// SetCallTimeout changes the bound of each API call (tests make it short).
func (c *Client) SetCallTimeout(d time.Duration) { c.timeout = d }

func split(repo string) (string, string) {
	o, r, _ := strings.Cut(repo, "/")
	return o, r
}

func checkRepo(repo string) error {
	o, r, ok := strings.Cut(repo, "/")
	if !ok || o == "" || r == "" || strings.Contains(r, "/") {
		return fmt.Errorf("repository %q is not owner/name", repo)
	}
	return nil
}

func (c *Client) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// Status says whether an environment runs the branch head.
type Status struct {
	HeadSHA, DeployedSHA string
	// Behind is how many commits the branch head is ahead of the deployed sha.
	Behind int
	// RunningDeploys are the web URLs of deploy workflow runs not finished yet.
	RunningDeploys []string
	// OK: the environment runs the branch head and no deploy is running.
	OK bool
	// NotDeployed says how the environment does not run the branch head (nil when it
	// does).
	NotDeployed *report.NotDeployed
}

// DeploysInProgress lists the web URLs of the runs of a workflow that are queued,
// waiting or in progress.
func (c *Client) DeploysInProgress(ctx context.Context, repo, workflowFile string) ([]string, error) {
	if err := checkRepo(repo); err != nil {
		return nil, err
	}
	owner, name := split(repo)
	cctx, cancel := c.call(ctx)
	defer cancel()
	var urls []string
	for _, s := range []string{"in_progress", "queued", "waiting"} {
		runs, _, err := c.gh.Actions.ListWorkflowRunsByFileName(cctx, owner, name, workflowFile, &gh.ListWorkflowRunsOptions{Status: s, ListOptions: gh.ListOptions{PerPage: 30}})
		if err != nil {
			return nil, fmt.Errorf("list %s runs of workflow %s in %s: %w", s, workflowFile, repo, err)
		}
		for _, r := range runs.WorkflowRuns {
			urls = append(urls, r.GetHTMLURL())
		}
	}
	return urls, nil
}

// DeployedLatest checks that the environment's newest deployment whose latest status
// is success is of the branch head, and that no run of the deploy workflow is queued,
// waiting or in progress (a deploy resets the replica counts the cutover sets).
func (c *Client) DeployedLatest(ctx context.Context, repo, branch, environment, workflowFile string) (Status, error) {
	var st Status
	if err := checkRepo(repo); err != nil {
		return st, err
	}
	owner, name := split(repo)
	cctx, cancel := c.call(ctx)
	defer cancel()
	b, _, err := c.gh.Repositories.GetBranch(cctx, owner, name, branch, 1)
	if err != nil {
		return st, fmt.Errorf("read branch %s of %s: %w", branch, repo, err)
	}
	st.HeadSHA = b.GetCommit().GetSHA()
	deps, _, err := c.gh.Repositories.ListDeployments(cctx, owner, name, &gh.DeploymentsListOptions{Environment: environment, ListOptions: gh.ListOptions{PerPage: 30}})
	if err != nil {
		return st, fmt.Errorf("list deployments of %s to environment %s: %w", repo, environment, err)
	}
	sort.SliceStable(deps, func(i, j int) bool { return deps[i].GetCreatedAt().After(deps[j].GetCreatedAt().Time) })
	for _, d := range deps {
		// Statuses come newest first: the first one is the deployment's current state.
		statuses, _, err := c.gh.Repositories.ListDeploymentStatuses(cctx, owner, name, d.GetID(), &gh.ListOptions{PerPage: 1})
		if err != nil {
			return st, fmt.Errorf("read the statuses of deployment %d of %s: %w", d.GetID(), repo, err)
		}
		if len(statuses) > 0 && statuses[0].GetState() == "success" {
			st.DeployedSHA = d.GetSHA()
			break
		}
	}
	if st.RunningDeploys, err = c.DeploysInProgress(cctx, repo, workflowFile); err != nil {
		return st, err
	}
	nd := report.NotDeployed{Repo: repo, Branch: branch, Environment: environment, Head: st.HeadSHA, Deployed: st.DeployedSHA}
	switch {
	case st.DeployedSHA == "":
		nd.How = report.NotDeployedNone
		st.NotDeployed = &nd
	case st.DeployedSHA != st.HeadSHA:
		cmp, _, err := c.gh.Repositories.CompareCommits(cctx, owner, name, st.DeployedSHA, st.HeadSHA, nil)
		switch {
		case err != nil:
			nd.How, nd.CompareErr = report.NotDeployedUnknown, err.Error()
		case cmp.GetBehindBy() > 0:
			st.Behind = cmp.GetAheadBy()
			nd.How, nd.Ahead, nd.Behind = report.NotDeployedDiverged, cmp.GetAheadBy(), cmp.GetBehindBy()
		default:
			st.Behind = cmp.GetAheadBy()
			nd.How, nd.Ahead = report.NotDeployedBehind, st.Behind
		}
		st.NotDeployed = &nd
	}
	st.OK = st.NotDeployed == nil && len(st.RunningDeploys) == 0
	return st, nil
}

// short abbreviates a commit sha as GitHub shows it; other refs stay whole.
func short(ref string) string {
	if len(ref) == 40 && strings.Trim(ref, "0123456789abcdef") == "" {
		return ref[:7]
	}
	return ref
}

// Access says whether the token can read and push to a repository.
func (c *Client) Access(ctx context.Context, repo string) (pull, push bool, err error) {
	if err := checkRepo(repo); err != nil {
		return false, false, err
	}
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
