package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

var (
	slackChannelID = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)
	slackUserID    = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	slackGroupID   = regexp.MustCompile(`^S[A-Z0-9]{2,}$`)
	// Names that reach a shell or SQL text are held to plain identifiers.
	sqlIdent     = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	podPath      = regexp.MustCompile(`^/[A-Za-z0-9/._,-]+$`)
	clusterName  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	hostname     = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$`)
	repoName     = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	labelPair    = regexp.MustCompile(`^[A-Za-z0-9./_-]+(=|==|!=)[A-Za-z0-9._-]*$`)
	stepID       = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	argvWord     = regexp.MustCompile(`^[^\x00\n]*$`)
	branchName   = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)
	relativePath = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)
)

// StepKinds are the kinds a configured plan may use.
var StepKinds = []string{"preflight", "scale", "maintenance", "exec", "announce", "snapshot", "dump", "restore", "verify", "pull-request", "wait-dns", "wait-tls"}

type validator struct{ problems Problems }

func (v *validator) crit(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...), Severity: Critical})
}

func (v *validator) warn(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...), Severity: Warning})
}

func (v *validator) required(path, value string) bool {
	if strings.TrimSpace(value) == "" {
		v.crit(path, "required")
		return false
	}
	return true
}

func (v *validator) match(path, value string, re *regexp.Regexp, what string) {
	if v.required(path, value) && !re.MatchString(value) {
		v.crit(path, "%q is not %s", value, what)
	}
}

func (v *validator) duration(path string, d *Duration, min time.Duration) {
	if d.raw != "" {
		parsed, err := time.ParseDuration(d.raw)
		if err != nil {
			v.crit(path, "%q is not a duration (use Go syntax: 90s, 30m, 2h)", d.raw)
			return
		}
		d.Duration = parsed
	}
	if d.Duration < min {
		v.crit(path, "must be at least %s", min)
	}
}

// jobs reads a count of parallel jobs: auto (also when omitted) or 1 to 16.
func (v *validator) jobs(path string, j *Jobs) {
	raw := strings.TrimSpace(j.raw)
	switch {
	case raw == "" || raw == "auto":
		if raw == "auto" {
			j.N = 0
		}
	default:
		n, err := strconv.Atoi(raw)
		if err != nil {
			v.crit(path, "%q is not auto or a number of jobs", j.raw)
			return
		}
		if n < 1 {
			v.crit(path, "must be auto or between 1 and 16")
			return
		}
		j.N = n
	}
	if j.N < 0 || j.N > 16 {
		v.crit(path, "must be auto or between 1 and 16")
	}
}

func (v *validator) hostPort(path, value string) {
	if !v.required(path, value) {
		return
	}
	host, port, err := net.SplitHostPort(value)
	if err != nil {
		v.crit(path, "%q is not host:port", value)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		v.crit(path, "%q has no valid port", value)
	}
	if host != "" && net.ParseIP(host) == nil && !hostname.MatchString(host) {
		v.crit(path, "%q has no valid host", value)
	}
}

func (v *validator) apiURL(path string, value *string) {
	u, err := url.Parse(*value)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.crit(path, "%q is not an http(s) URL", *value)
		return
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		v.crit(path, "%q is plain http, which would send the token in clear text: use https (http is accepted only for a loopback address: 127.0.0.1, ::1, localhost)", *value)
		return
	}
	if !strings.HasSuffix(*value, "/") {
		*value += "/" // API clients append method names to the base
	}
}

// loopback reports whether host can only be this machine: 127.0.0.0/8, ::1 or
// localhost (a local test server, where plain http exposes nothing).
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validate(c *Config, opts Options) Problems {
	v := &validator{}
	v.slack(c)
	v.required("announcements.start", c.Announcements.Start)
	v.required("announcements.done", c.Announcements.Done)
	v.service(c)
	v.database(c)
	v.clusters(c)
	v.github(c)
	v.dns(c)
	v.duration("tls.poll_every", &c.TLS.PollEvery, time.Second)
	v.duration("tls.timeout", &c.TLS.Timeout, time.Second)
	switch c.State.Backend {
	case "file", "kubernetes":
	default:
		v.crit("state.backend", "%q is not one of file, kubernetes", c.State.Backend)
	}
	v.duration("state.lease_duration", &c.State.LeaseDuration, time.Second)
	v.duration("state.retention", &c.State.Retention, time.Hour)
	if c.State.Backend != "kubernetes" && (c.State.Kubeconfig != "" || c.State.Namespace != "" || c.State.Context != "") {
		v.warn("state.kubeconfig", "state.kubeconfig, state.context and state.namespace are used only with state.backend: kubernetes")
	}
	if c.State.Kubeconfig != "" && !filepath.IsAbs(c.State.Kubeconfig) {
		v.warn("state.kubeconfig", "%q is relative: it is resolved against the working directory", c.State.Kubeconfig)
	}
	if v.required("state.dir", c.State.Dir) && !filepath.IsAbs(c.State.Dir) {
		v.warn("state.dir", "%q is relative: it is resolved against the working directory", c.State.Dir)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		v.crit("http.listen", "%q is not [host]:port", c.HTTP.Listen)
	}
	if _, err := time.LoadLocation(c.Schedule.Timezone); err != nil {
		v.crit("schedule.timezone", "%q is not a time zone name (e.g. America/New_York)", c.Schedule.Timezone)
	}
	v.plan(c)
	v.tokens(c, opts)
	return v.problems
}

func (v *validator) slack(c *Config) {
	s := &c.Slack
	v.match("slack.channel", s.Channel, slackChannelID, "a Slack channel ID (C0123ABC)")
	seen := map[string]bool{}
	for i, u := range s.Maintainers.Users {
		p := fmt.Sprintf("slack.maintainers.users[%d]", i)
		v.match(p, u, slackUserID, "a Slack user ID (U0123ABC)")
		if seen[u] {
			v.crit(p, "%s is listed twice", u)
		}
		seen[u] = true
	}
	if s.Maintainers.Usergroup != "" && !slackGroupID.MatchString(s.Maintainers.Usergroup) {
		v.crit("slack.maintainers.usergroup", "%q is not a Slack user group ID (S0123ABC)", s.Maintainers.Usergroup)
	}
	if len(s.Maintainers.Users) == 0 && s.Maintainers.Usergroup == "" {
		v.crit("slack.maintainers", "name at least one user or a usergroup: nobody could start or approve a run")
	}
	if s.ApprovalsRequired < 1 {
		v.crit("slack.approvals_required", "must be at least 1")
	} else if s.Maintainers.Usergroup == "" && s.ApprovalsRequired > len(s.Maintainers.Users)-1 && len(s.Maintainers.Users) > 0 {
		v.crit("slack.approvals_required", "%d approvals can never be met: %d maintainers, and the initiator does not count", s.ApprovalsRequired, len(s.Maintainers.Users))
	}
	v.duration("slack.approval_timeout", &s.ApprovalTimeout, time.Minute)
	v.duration("slack.reminder_every", &s.ReminderEvery, time.Minute)
	if s.ReminderEvery.Duration >= s.ApprovalTimeout.Duration && s.ApprovalTimeout.Duration > 0 {
		v.warn("slack.reminder_every", "is not shorter than approval_timeout: no reminder will be sent")
	}
	v.apiURL("slack.api_url", &s.APIURL)
	v.notify(s)
}

func (v *validator) service(c *Config) {
	s := &c.Service
	if v.required("service.url", s.URL) {
		u, err := url.Parse(s.URL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			v.crit("service.url", "%q is not an http(s) URL", s.URL)
		case u.Scheme == "http":
			v.warn("service.url", "is plain http: the TLS wait cannot check a certificate")
		}
		s.URL = strings.TrimRight(s.URL, "/")
	}
	for i, p := range s.SnapshotPaths {
		path := fmt.Sprintf("service.snapshot_paths[%d]", i)
		switch {
		case !strings.HasPrefix(p, "/"):
			v.crit(path, "%q must start with /", p)
		case strings.Contains(p, "/kiosks"):
			v.crit(path, "%q proxies another data set and must not be diffed", p)
		}
	}
	if s.CAFile != "" {
		if _, err := os.Stat(s.CAFile); err != nil {
			v.crit("service.ca_file", "cannot read %s: %v", s.CAFile, err)
		}
	}
	v.duration("service.timeout", &s.Timeout, time.Second)
	v.duration("service.ready_timeout", &s.ReadyTimeout, time.Second)
	v.duration("service.ready_poll_every", &s.ReadyPollEvery, 100*time.Millisecond)
}

func (v *validator) database(c *Config) {
	d := c.Database
	v.match("database.name", d.Name, sqlIdent, "a plain database name (lowercase letters, digits, _)")
	v.match("database.user", d.User, sqlIdent, "a plain role name (lowercase letters, digits, _)")
	for i, t := range d.ExcludeTables {
		v.match(fmt.Sprintf("database.exclude_tables[%d]", i), t, sqlIdent, "a plain table name")
	}
	v.jobs("database.restore_jobs", &c.Database.RestoreJobs)
	if _, kb := d.RestoreMaintenance(); kb == 0 && !slices.Contains([]string{"", "auto", "server"}, strings.TrimSpace(d.RestoreMaintenanceWorkMem)) {
		v.crit("database.restore_maintenance_work_mem", "%q is not auto, server, or a size such as 256MB or 1GB (units kB, MB, GB)", d.RestoreMaintenanceWorkMem)
	}
	if l := d.DumpCompression; l != nil && (*l < 0 || *l > 9) {
		v.crit("database.dump_compression", "must be a pg_dump -Z level between 0 (none) and 9 (smallest, slowest)")
	}
	v.match("database.pod_backup_dir", d.PodBackupDir, podPath, "an absolute path in the postgres pod using only A-Z a-z 0-9 / . _ , -")
	if strings.Contains(d.PodBackupDir, "..") {
		v.crit("database.pod_backup_dir", "must not contain ..")
	}
}

func (v *validator) clusters(c *Config) {
	if len(c.Clusters) < 2 {
		v.crit("clusters", "name at least two clusters: a cutover moves between two")
	}
	names := make([]string, 0, len(c.Clusters))
	for n := range c.Clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	lbs, hosts := map[string]string{}, map[string]string{}
	for _, name := range names {
		cl := c.Clusters[name]
		p := "clusters." + name
		if !clusterName.MatchString(name) {
			v.crit(p, "cluster name %q must be lowercase letters, digits and -", name)
		}
		if cl.Kubeconfig == "" {
			v.warn(p+".kubeconfig", "empty: the in-cluster service account is used")
		} else if cl.Context == "" {
			v.warn(p+".context", "empty: the kubeconfig's current context is used")
		}
		v.match(p+".namespace", cl.Namespace, dnsLabel, "a namespace name")
		v.match(p+".celery_statefulset", cl.CeleryStatefulSet, dnsLabel, "a StatefulSet name")
		v.selector(p+".meshweb.selector", cl.Meshweb.Selector)
		v.match(p+".meshweb.container", cl.Meshweb.Container, dnsLabel, "a container name")
		if len(cl.Meshweb.Manage) == 0 {
			v.crit(p+".meshweb.manage", "required: the argv prefix of management commands, e.g. [python, manage.py]")
		}
		for i, w := range cl.Meshweb.Manage {
			if w == "" || !argvWord.MatchString(w) {
				v.crit(fmt.Sprintf("%s.meshweb.manage[%d]", p, i), "empty or multi-line word")
			}
		}
		if cl.Meshweb.Deployment != "" && !dnsLabel.MatchString(cl.Meshweb.Deployment) {
			v.crit(p+".meshweb.deployment", "%q is not a Deployment name", cl.Meshweb.Deployment)
		}
		v.selector(p+".postgres.selector", cl.Postgres.Selector)
		v.match(p+".postgres.container", cl.Postgres.Container, dnsLabel, "a container name")
		v.hostPort(p+".lb_address", cl.LBAddress)
		v.match(p+".lb_hostname", cl.LBHostname, hostname, "a host name")
		v.required(p+".github_environment", cl.GitHubEnvironment)
		v.match(p+".tfvars", cl.TFVars, relativePath, "a path inside the certs repository")
		if other, ok := lbs[cl.LBAddress]; ok && cl.LBAddress != "" {
			v.crit(p+".lb_address", "same as clusters.%s.lb_address: the two clusters could not be told apart", other)
		}
		if other, ok := hosts[strings.ToLower(cl.LBHostname)]; ok && cl.LBHostname != "" {
			v.crit(p+".lb_hostname", "same as clusters.%s.lb_hostname: the DNS change would change nothing", other)
		}
		lbs[cl.LBAddress], hosts[strings.ToLower(cl.LBHostname)] = name, name
	}
}

// selector accepts equality-based label selectors; the shared workload selector is
// refused because it matches every MeshDB pod, not the one container we need.
func (v *validator) selector(path, sel string) {
	if !v.required(path, sel) {
		return
	}
	for _, part := range strings.Split(sel, ",") {
		if !labelPair.MatchString(strings.TrimSpace(part)) {
			v.crit(path, "%q is not a label selector (key=value[,key=value])", sel)
			return
		}
	}
	if strings.Contains(sel, "app.kubernetes.io/name=meshdb") || strings.Contains(sel, "app.kubernetes.io/instance=meshdb") {
		v.crit(path, "%q is the selector all MeshDB workloads share: use the pod's own label (app=...)", sel)
	}
}

var workflowFile = regexp.MustCompile(`^[A-Za-z0-9._-]+\.ya?ml$`)

func (v *validator) github(c *Config) {
	g := &c.GitHub
	v.apiURL("github.api_url", &g.APIURL)
	v.match("github.app.repo", g.App.Repo, repoName, "owner/name")
	v.match("github.app.branch", g.App.Branch, branchName, "a branch name")
	v.required("github.app.deploy_workflow", g.App.DeployWorkflow)
	v.match("github.dns.repo", g.DNS.Repo, repoName, "owner/name")
	v.match("github.dns.branch", g.DNS.Branch, branchName, "a branch name")
	v.match("github.dns.file", g.DNS.File, relativePath, "a path inside the repository")
	v.match("github.dns.resource", g.DNS.Resource, regexp.MustCompile(`^[A-Za-z0-9_-]+$`), "a Terraform resource name")
	v.match("github.certs.repo", g.Certs.Repo, repoName, "owner/name")
	v.match("github.certs.branch", g.Certs.Branch, branchName, "a branch name")
	v.match("github.certs.list_variable", g.Certs.ListVariable, regexp.MustCompile(`^[A-Za-z0-9_]+$`), "a Terraform variable name")
	v.match("github.certs.placeholder", g.Certs.Placeholder, hostname, "a host name")
	for path, wf := range map[string]string{"github.dns.workflow": g.DNS.Workflow, "github.certs.workflow": g.Certs.Workflow} {
		switch {
		case wf == "":
			v.warn(path, "is empty: the pull-request step will not wait for the workflow run its merge starts")
		case !workflowFile.MatchString(wf):
			v.crit(path, "%q is not a workflow file name (such as deploy.yaml, under .github/workflows/)", wf)
		}
	}
	v.duration("github.run_poll_every", &g.RunPollEvery, 100*time.Millisecond)
	v.duration("github.run_appear_timeout", &g.RunAppearTimeout, time.Second)
	v.duration("github.run_timeout", &g.RunTimeout, time.Second)
	v.duration("github.merge_timeout", &g.MergeTimeout, time.Second)
	for path, m := range map[string]string{"github.dns.merge": g.DNS.Merge, "github.certs.merge": g.Certs.Merge} {
		if m != "auto" && m != "manual" {
			v.crit(path, "%q is not one of auto, manual", m)
		}
	}
}

func (v *validator) dns(c *Config) {
	d := &c.DNS
	v.match("dns.name", d.Name, hostname, "a host name")
	if len(d.Resolvers) == 0 {
		v.crit("dns.resolvers", "name at least one resolver (host:53)")
	}
	for i, r := range d.Resolvers {
		v.hostPort(fmt.Sprintf("dns.resolvers[%d]", i), r)
	}
	v.duration("dns.poll_every", &d.PollEvery, time.Second)
	v.duration("dns.timeout", &d.Timeout, time.Second)
	if c.Service.URL != "" {
		if u, err := url.Parse(c.Service.URL); err == nil && d.Name != "" && !strings.EqualFold(u.Hostname(), d.Name) {
			v.warn("dns.name", "%q differs from the host of service.url (%s)", d.Name, u.Hostname())
		}
	}
}

func (v *validator) plan(c *Config) {
	ids := map[string]bool{}
	for i, s := range c.Plan {
		p := fmt.Sprintf("plan[%d]", i)
		if !contains(StepKinds, s.Kind) {
			v.crit(p+".kind", "%q is not one of %s", s.Kind, strings.Join(StepKinds, ", "))
			continue
		}
		if s.ID != "" {
			if !stepID.MatchString(s.ID) {
				v.crit(p+".id", "%q must be lowercase letters, digits and -", s.ID)
			}
			if ids[s.ID] {
				v.crit(p+".id", "%q is used twice", s.ID)
			}
			ids[s.ID] = true
		}
		needsCluster := map[string]bool{"scale": true, "maintenance": true, "exec": true}
		if needsCluster[s.Kind] || s.Cluster != "" {
			if s.Cluster != "origin" && s.Cluster != "destination" {
				v.crit(p+".cluster", "%q is not one of origin, destination", s.Cluster)
			}
		}
		switch s.Kind {
		case "scale":
			if s.Workload != "statefulset" && s.Workload != "deployment" {
				v.crit(p+".workload", "%q is not one of statefulset, deployment", s.Workload)
			}
			if s.Name != "" && !dnsLabel.MatchString(s.Name) {
				// Empty means the cluster's celery StatefulSet or meshweb Deployment.
				v.crit(p+".name", "%q is not a workload name", s.Name)
			}
			if (s.Replicas == nil) == (s.RestoreFrom == "") {
				v.crit(p, "give exactly one of replicas or restore_from")
			}
			if s.Replicas != nil && *s.Replicas < 0 {
				v.crit(p+".replicas", "must not be negative")
			}
		case "maintenance":
			if s.On == nil {
				v.crit(p+".on", "required (true or false)")
			}
		case "exec":
			if s.Target != "meshweb" && s.Target != "postgres" {
				v.crit(p+".target", "%q is not one of meshweb, postgres", s.Target)
			}
			if len(s.Argv) == 0 {
				v.crit(p+".argv", "required")
			}
		case "announce":
			if s.Template != "start" && s.Template != "done" {
				v.crit(p+".template", "%q is not one of start, done", s.Template)
			}
		case "snapshot":
			if s.Via != "public" && s.Via != "lb" {
				v.crit(p+".via", "%q is not one of public, lb", s.Via)
			}
		case "pull-request":
			if s.Change != "dns" && s.Change != "certs" {
				v.crit(p+".change", "%q is not one of dns, certs", s.Change)
			}
		}
	}
}

func (v *validator) tokens(c *Config, opts Options) {
	check := func(name string, s Secret, prefix string) {
		switch {
		case !s.Set() && opts.RequireTokens:
			v.crit("env "+name, "not set")
		case s.Set() && prefix != "" && !strings.HasPrefix(s.Reveal(), prefix):
			// Say what is wrong without repeating any of the value.
			v.crit("env "+name, "does not start with %s", prefix)
		}
	}
	check("SLACK_BOT_TOKEN", c.Tokens.SlackBot, "xoxb-")
	check("SLACK_APP_TOKEN", c.Tokens.SlackApp, "xapp-")
	check("GITHUB_TOKEN", c.Tokens.GitHub, "")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
