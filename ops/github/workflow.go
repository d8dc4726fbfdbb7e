package github

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// WorkflowFile is what the bot reads of a GitHub Actions workflow file: whether a push
// to a branch starts it, and which environments its jobs deploy to.
type WorkflowFile struct {
	Name string
	// OnPush says a push starts it; PushBranches limits that to matching branches (nil:
	// any branch) and PushIgnore excludes some.
	OnPush                   bool
	PushBranches, PushIgnore []string
	Jobs                     []WorkflowJob
}

// WorkflowJob is one job: the environments it deploys to, and when it runs.
type WorkflowJob struct {
	ID, Name     string
	Environments []string
	Needs        []string
	// If is the job's condition as written ("" when none).
	If string
}

type rawWorkflow struct {
	Name string               `yaml:"name"`
	On   yaml.Node            `yaml:"on"`
	Jobs map[string]yaml.Node `yaml:"jobs"`
}

type rawJob struct {
	Name        string         `yaml:"name"`
	Environment yaml.Node      `yaml:"environment"`
	With        map[string]any `yaml:"with"`
	Needs       yaml.Node      `yaml:"needs"`
	If          string         `yaml:"if"`
	Strategy    struct {
		Matrix map[string]any `yaml:"matrix"`
	} `yaml:"strategy"`
}

// ParseWorkflow reads a workflow file.
func ParseWorkflow(text []byte) (WorkflowFile, error) {
	var raw rawWorkflow
	if err := yaml.Unmarshal(text, &raw); err != nil {
		return WorkflowFile{}, fmt.Errorf("not a workflow file: %w", err)
	}
	w := WorkflowFile{Name: raw.Name}
	switch raw.On.Kind {
	case yaml.ScalarNode:
		w.OnPush = raw.On.Value == "push"
	case yaml.SequenceNode:
		for _, n := range raw.On.Content {
			w.OnPush = w.OnPush || n.Value == "push"
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(raw.On.Content); i += 2 {
			if raw.On.Content[i].Value != "push" {
				continue
			}
			w.OnPush = true
			var push struct {
				Branches       []string `yaml:"branches"`
				BranchesIgnore []string `yaml:"branches-ignore"`
			}
			if err := raw.On.Content[i+1].Decode(&push); err != nil {
				return w, fmt.Errorf("on.push: %w", err)
			}
			w.PushBranches, w.PushIgnore = push.Branches, push.BranchesIgnore
		}
	}
	ids := make([]string, 0, len(raw.Jobs))
	for id := range raw.Jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		node := raw.Jobs[id]
		var rj rawJob
		if err := node.Decode(&rj); err != nil {
			return w, fmt.Errorf("jobs.%s: %w", id, err)
		}
		j := WorkflowJob{ID: id, Name: rj.Name, If: strings.TrimSpace(rj.If)}
		switch rj.Needs.Kind {
		case yaml.ScalarNode:
			j.Needs = []string{rj.Needs.Value}
		case yaml.SequenceNode:
			for _, n := range rj.Needs.Content {
				j.Needs = append(j.Needs, n.Value)
			}
		}
		var env string
		switch rj.Environment.Kind {
		case yaml.ScalarNode:
			env = rj.Environment.Value
		case yaml.MappingNode:
			var e struct{ Name string }
			_ = rj.Environment.Decode(&e)
			env = e.Name
		}
		if env == "" {
			// A call of a reusable workflow (deploy_k8s_cluster.yaml) names the
			// environment as an input.
			if v, ok := rj.With["environment"].(string); ok {
				env = v
			}
		}
		j.Environments = expandMatrix(env, rj.Strategy.Matrix)
		w.Jobs = append(w.Jobs, j)
	}
	return w, nil
}

var matrixRef = regexp.MustCompile(`^\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}$`)

// expandMatrix turns `${{ matrix.env }}` into the matrix's values.
func expandMatrix(env string, matrix map[string]any) []string {
	if env == "" {
		return nil
	}
	m := matrixRef.FindStringSubmatch(env)
	if m == nil {
		return []string{env}
	}
	var out []string
	if list, ok := matrix[m[1]].([]any); ok {
		for _, v := range list {
			out = append(out, fmt.Sprint(v))
		}
	}
	if inc, ok := matrix["include"].([]any); ok {
		for _, x := range inc {
			if row, ok := x.(map[string]any); ok && row[m[1]] != nil {
				out = append(out, fmt.Sprint(row[m[1]]))
			}
		}
	}
	return out
}

func globMatch(pattern, name string) bool {
	ok, err := path.Match(strings.ReplaceAll(pattern, "**", "*"), name)
	return err == nil && ok
}

// RunsOnPush says whether a push to branch starts the workflow.
func (w WorkflowFile) RunsOnPush(branch string) bool {
	if !w.OnPush {
		return false
	}
	for _, p := range w.PushIgnore {
		if globMatch(p, branch) {
			return false
		}
	}
	if w.PushBranches == nil {
		return true
	}
	for _, p := range w.PushBranches {
		if globMatch(p, branch) {
			return true
		}
	}
	return false
}

// never says why a job cannot run on a push to branch ("" when it may run): its
// condition is false there, or a job it needs never runs or does not exist.
func (w WorkflowFile) never(id, branch string, seen map[string]bool) string {
	var job *WorkflowJob
	for i := range w.Jobs {
		if w.Jobs[i].ID == id {
			job = &w.Jobs[i]
		}
	}
	if job == nil {
		return "there is no job " + id
	}
	if seen[id] {
		return "its needs go round in a circle"
	}
	seen[id] = true
	defer delete(seen, id)
	if evalIf(job.If, branch) == condFalse {
		return fmt.Sprintf("its condition `if: %s` is false on a push to %s", job.If, branch)
	}
	if strings.Contains(job.If, "always()") {
		return ""
	}
	for _, n := range job.Needs {
		if why := w.never(n, branch, seen); why != "" {
			return fmt.Sprintf("it needs %s, which never runs (%s)", n, why)
		}
	}
	return ""
}

type cond int

const (
	condMaybe cond = iota
	condTrue
	condFalse
)

var ifAtom = regexp.MustCompile(`^(github\.ref|github\.ref_name|github\.event_name)\s*(==|!=)\s*'([^']*)'$`)

// evalIf evaluates a job condition on a push to branch, as far as it can: comparisons
// of github.ref, github.ref_name and github.event_name joined by && and ||, true and
// false. Anything else may be true.
func evalIf(expr, branch string) cond {
	e := strings.TrimSpace(expr)
	if strings.HasPrefix(e, "${{") && strings.HasSuffix(e, "}}") {
		e = strings.TrimSpace(e[3 : len(e)-2])
	}
	if e == "" {
		return condTrue
	}
	if strings.ContainsAny(e, "()") && !strings.Contains(e, "always()") && !strings.Contains(e, "success()") {
		return condMaybe
	}
	anyMaybe := false
	for _, alt := range strings.Split(e, "||") {
		all := condTrue
		for _, atom := range strings.Split(alt, "&&") {
			c := evalAtom(strings.TrimSpace(atom), branch)
			if c == condFalse {
				all = condFalse
				break
			}
			if c == condMaybe {
				all = condMaybe
			}
		}
		switch all {
		case condTrue:
			return condTrue
		case condMaybe:
			anyMaybe = true
		}
	}
	if anyMaybe {
		return condMaybe
	}
	return condFalse
}

func evalAtom(a, branch string) cond {
	switch a {
	case "true", "always()", "success()":
		return condTrue
	case "false":
		return condFalse
	}
	m := ifAtom.FindStringSubmatch(a)
	if m == nil {
		return condMaybe
	}
	var actual string
	switch m[1] {
	case "github.ref":
		actual = "refs/heads/" + branch
	case "github.ref_name":
		actual = branch
	case "github.event_name":
		actual = "push"
	}
	if (actual == m[3]) == (m[2] == "==") {
		return condTrue
	}
	return condFalse
}

// DeployCheck says whether a push to a branch deploys to an environment.
type DeployCheck struct {
	OK bool
	// Jobs are the jobs that deploy there on such a push.
	Jobs []string
	// Problem says what to change when OK is false (its Repo and Change are the
	// caller's to fill in).
	Problem *report.WorkflowProblem
}

// DeploysTo checks that a push to branch starts the workflow and runs a job that
// deploys to env. file names the workflow in the problem.
func (w WorkflowFile) DeploysTo(file, env, branch string) DeployCheck {
	problem := &report.WorkflowProblem{Workflow: file, Name: w.Name, Branch: branch, Environment: env}
	if !w.RunsOnPush(branch) {
		problem.How = report.WorkflowCertNoPush
		return DeployCheck{Problem: problem}
	}
	var c DeployCheck
	var elsewhere []string
	var blocked []report.BlockedJob
	for _, j := range w.Jobs {
		deploys := false
		for _, e := range j.Environments {
			if strings.EqualFold(e, env) {
				deploys = true
			} else if !strings.Contains(e, "${{") {
				elsewhere = append(elsewhere, e)
			}
		}
		if !deploys {
			continue
		}
		if why := w.never(j.ID, branch, map[string]bool{}); why != "" {
			blocked = append(blocked, report.BlockedJob{Job: j.ID, Why: why})
			continue
		}
		c.Jobs = append(c.Jobs, j.ID)
	}
	if len(c.Jobs) > 0 {
		c.OK = true
		return c
	}
	if len(blocked) > 0 {
		problem.How, problem.Blocked = report.WorkflowBlocked, blocked
		c.Problem = problem
		return c
	}
	sort.Strings(elsewhere)
	problem.How, problem.Elsewhere = report.WorkflowNoJob, dedupe(elsewhere)
	c.Problem = problem
	return c
}

func dedupe(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Workflow reads and parses .github/workflows/FILE of repo at ref.
func (c *Client) Workflow(ctx context.Context, repo, ref, file string) (WorkflowFile, error) {
	if err := checkRepo(repo); err != nil {
		return WorkflowFile{}, err
	}
	text, _, err := c.content(ctx, repo, ".github/workflows/"+file, ref)
	if err != nil {
		return WorkflowFile{}, fmt.Errorf("workflow %s: %w", file, err)
	}
	w, err := ParseWorkflow([]byte(text))
	if err != nil {
		return w, fmt.Errorf("workflow %s in %s: %w", file, repo, err)
	}
	return w, nil
}
