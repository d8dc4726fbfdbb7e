package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/config"
	"github.com/nycmeshnet/cutoverbot/ops/dns"
	"github.com/nycmeshnet/cutoverbot/ops/github"
	"github.com/nycmeshnet/cutoverbot/ops/kube"
	"github.com/nycmeshnet/cutoverbot/ops/snapshot"
)

// CheckResult is one line of `cutoverbot check`.
type CheckResult struct {
	Name string
	OK   bool
	Warn bool   // OK for now, but needs doing soon
	Msg  string // what was seen, or what to do
}

// Check tries every connection the bot needs, one result per check, all of them even
// when some fail. Nothing is changed anywhere.
func Check(ctx context.Context, cfg *config.Config) []CheckResult {
	var out []CheckResult
	add := func(name string, err error, ok string) {
		if err != nil {
			out = append(out, CheckResult{Name: name, Msg: handlers.ErrText(err.Error())})
			return
		}
		out = append(out, CheckResult{Name: name, OK: true, Msg: ok})
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	api := slack.New(cfg.Tokens.SlackBot.Reveal(), slack.OptionAPIURL(cfg.Slack.APIURL), slack.OptionAppLevelToken(cfg.Tokens.SlackApp.Reveal()))
	auth, err := api.AuthTestContext(cctx)
	if err != nil {
		err = slackAuthProblem(cfg.Slack.APIURL, auth, err)
	}
	who := ""
	if auth != nil {
		who = fmt.Sprintf("authenticated as %s in %s", auth.User, auth.Team)
	}
	add("slack bot token", err, who)
	_, _, err = api.StartSocketModeContext(cctx)
	if err != nil {
		err = fmt.Errorf("SLACK_APP_TOKEN cannot open a Socket Mode connection (%v): make an app-level token with connections:write", err)
	}
	add("slack app token", err, "can open a Socket Mode connection")
	ch, err := api.GetConversationInfoContext(cctx, &slack.GetConversationInfoInput{ChannelID: cfg.Slack.Channel})
	switch {
	case err != nil && strings.Contains(err.Error(), "missing_scope"):
		err = fmt.Errorf("channel %s cannot be read (%v): the app needs channels:read for a public channel and groups:read for a private one; reinstall it from deploy/slack-app-manifest.yaml", cfg.Slack.Channel, err)
	case err != nil:
		err = fmt.Errorf("channel %s not found (%v): check slack.channel, and invite the bot (a private channel is hidden from it until then)", cfg.Slack.Channel, err)
	case !ch.IsMember:
		err = fmt.Errorf("the bot is not a member of #%s (%s): invite it there with /invite @cutoverbot", ch.Name, cfg.Slack.Channel)
	}
	name := ""
	if ch != nil {
		name = "#" + ch.Name + ", the bot is a member"
	}
	add("slack channel", err, name)
	if g := cfg.Slack.Maintainers.Usergroup; g != "" {
		members, err := api.GetUserGroupMembersContext(cctx, g)
		if err != nil {
			err = fmt.Errorf("user group %s not readable (%v): the app needs usergroups:read", g, err)
		}
		add("slack maintainers group", err, fmt.Sprintf("%d members", len(members)))
	}

	for name, cc := range cfg.Clusters {
		c, err := kube.Connect(kube.Options{Name: name, Kubeconfig: cc.Kubeconfig, Context: cc.Context, Namespace: cc.Namespace})
		if err == nil {
			err = c.Ping(cctx)
		}
		if err == nil {
			err = c.WorkloadExists(cctx, kube.StatefulSet, cc.CeleryStatefulSet)
		}
		var pods []string
		for _, p := range [][2]string{{cc.Meshweb.Selector, cc.Meshweb.Container}, {cc.Postgres.Selector, cc.Postgres.Container}} {
			if err != nil {
				break
			}
			var pod kube.Pod
			pod, err = c.FindPod(cctx, p[0], p[1])
			pods = append(pods, pod.Name)
		}
		add("cluster "+name, err, fmt.Sprintf("reachable; %s present; pods %v", cc.CeleryStatefulSet, pods))
		if c != nil {
			want := append(append([]kube.Access(nil), kube.PlanAccess...), kube.AnnotateAccess(kube.StatefulSet, cc.CeleryStatefulSet))
			missing, perr := c.Missing(cctx, want)
			if perr == nil && len(missing) > 0 {
				perr = fmt.Errorf("the identity of context %q may not %s in namespace %s: apply deploy/target-cluster/rbac.yaml there and bind it to this identity",
					cc.Context, kube.DescribeMissing(missing), c.Namespace())
			}
			add("permissions "+name, perr, fmt.Sprintf("all %d the plan needs (SelfSubjectAccessReview)", len(want)))
		}

		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", cc.LBAddress, &tls.Config{InsecureSkipVerify: true}) // reachability only
		if err == nil {
			conn.Close()
		}
		add("lb_address "+name, err, cc.LBAddress+" answers TLS")
	}

	if cfg.State.Backend == "kubernetes" {
		st, home, err := OpenStore(cctx, cfg)
		if err == nil {
			st.Close()
			var missing []kube.Access
			missing, err = home.Missing(cctx, kube.StateAccess)
			if err == nil && len(missing) > 0 {
				err = fmt.Errorf("the bot may not %s in namespace %s: install the chart deploy/helm/cutoverbot with state.backend: kubernetes in its configuration (it adds that Role)", kube.DescribeMissing(missing), home.Namespace())
			}
		}
		where := cfg.State.Namespace
		if home != nil {
			where = home.Namespace()
		}
		add("state in kubernetes", err, fmt.Sprintf("ConfigMaps and Lease %s usable in namespace %s", cfg.State.LeaseName, where))
	}

	if msg, warn, err := spoolSpace(cfg.State.Dir); err != nil || !warn {
		add("spool volume", err, msg)
	} else {
		out = append(out, CheckResult{Name: "spool volume", OK: true, Warn: true, Msg: msg})
	}

	gh, err := github.New(cfg.GitHub.APIURL, cfg.Tokens.GitHub.Reveal(), nil)
	for _, r := range []struct {
		repo string
		push bool
	}{{cfg.GitHub.App.Repo, false}, {cfg.GitHub.DNS.Repo, true}, {cfg.GitHub.Certs.Repo, true}} {
		if err != nil {
			add("github "+r.repo, err, "")
			continue
		}
		pull, push, aerr := gh.Access(cctx, r.repo)
		switch {
		case aerr != nil:
			aerr = fmt.Errorf("%v: GITHUB_TOKEN must be able to read %s", aerr, r.repo)
		case !pull:
			aerr = fmt.Errorf("GITHUB_TOKEN cannot read %s", r.repo)
		case r.push && !push:
			aerr = fmt.Errorf("GITHUB_TOKEN cannot push branches to %s (the PR steps need contents and pull requests write)", r.repo)
		}
		what := "readable"
		if r.push {
			what = "readable and writable"
		}
		add("github "+r.repo, aerr, what)
	}

	roots, err := snapshot.LoadRoots(cfg.Service.CAFile)
	if err == nil {
		hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		var resp *http.Response
		resp, err = hc.Get(cfg.Service.URL + cfg.Service.SnapshotPaths[0])
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusFound {
				err = fmt.Errorf("%s answered %s", cfg.Service.URL, resp.Status)
			}
		}
	}
	add("service url", err, cfg.Service.URL+" answers")

	for _, r := range cfg.DNS.Resolvers {
		a := dns.Query(cctx, r, cfg.DNS.Name)
		add("resolver "+r, a.Err, handlers.AnswerText(a.Report()))
	}
	return out
}

// slackAuthProblem says what a failed auth.test means. slack-go gives no response
// when the call fails on the way (network, 5xx, 429): only an answer from Slack itself
// says anything about the token.
func slackAuthProblem(apiURL string, auth *slack.AuthTestResponse, err error) error {
	var limited *slack.RateLimitedError
	var status slack.StatusCodeError
	switch {
	case errors.As(err, &limited):
		return fmt.Errorf("auth.test: Slack is rate-limiting the bot (retry after %s); run check again then", limited.RetryAfter)
	case errors.As(err, &status):
		return fmt.Errorf("auth.test: Slack answered HTTP %s; Slack may be having trouble (https://slack-status.com), or slack.api_url %s is not Slack's Web API; try again later", status.Status, apiURL)
	case auth == nil:
		return fmt.Errorf("auth.test: Slack's Web API at %s cannot be reached (%v): check the network, any proxy, and slack.api_url", apiURL, err)
	}
	return fmt.Errorf("SLACK_BOT_TOKEN refused (%v): reinstall the app and copy its Bot User OAuth Token", err)
}
