package config

import "time"

// Defaults are what an omitted key means; the example config documents each.
const (
	DefaultSlackAPIURL  = "https://slack.com/api/"
	DefaultGitHubAPIURL = "https://api.github.com/"
)

func applyDefaults(c *Config) {
	if c.Slack.ApprovalsRequired == 0 {
		c.Slack.ApprovalsRequired = 1
	}
	defaultDuration(&c.Slack.ApprovalTimeout, 2*time.Hour)
	defaultDuration(&c.Slack.ReminderEvery, 15*time.Minute)
	if c.Slack.APIURL == "" {
		c.Slack.APIURL = DefaultSlackAPIURL
	}
	if c.Slack.Notify == nil {
		c.Slack.Notify = append(Notify(nil), DefaultNotify...)
	}
	defaultDuration(&c.Service.Timeout, 60*time.Second)
	defaultDuration(&c.Service.ReadyTimeout, 5*time.Minute)
	defaultDuration(&c.Service.ReadyPollEvery, 5*time.Second)
	if len(c.Service.SnapshotPaths) == 0 {
		c.Service.SnapshotPaths = []string{"/api/v1/mapdata/nodes/", "/api/v1/mapdata/links/", "/api/v1/mapdata/sectors/"}
	}
	if c.Database.PodBackupDir == "" {
		c.Database.PodBackupDir = DefaultPodBackupDir
	}
	if c.Database.DumpCompression == nil {
		level := DefaultDumpCompression
		c.Database.DumpCompression = &level
	}
	if c.GitHub.APIURL == "" {
		c.GitHub.APIURL = DefaultGitHubAPIURL
	}
	for _, b := range []*string{&c.GitHub.App.Branch, &c.GitHub.DNS.Branch, &c.GitHub.Certs.Branch} {
		if *b == "" {
			*b = "main"
		}
	}
	for _, m := range []*string{&c.GitHub.DNS.Merge, &c.GitHub.Certs.Merge} {
		if *m == "" {
			*m = "auto"
		}
	}
	defaultDuration(&c.GitHub.RunPollEvery, 15*time.Second)
	defaultDuration(&c.GitHub.RunAppearTimeout, 2*time.Minute)
	defaultDuration(&c.GitHub.RunTimeout, time.Hour)
	defaultDuration(&c.GitHub.MergeTimeout, 2*time.Hour)
	for name, cc := range c.Clusters {
		if cc.CertsEnvironment == "" {
			cc.CertsEnvironment = name
			c.Clusters[name] = cc
		}
	}
	defaultDuration(&c.DNS.PollEvery, 15*time.Second)
	defaultDuration(&c.DNS.Timeout, 45*time.Minute)
	defaultDuration(&c.TLS.PollEvery, 30*time.Second)
	defaultDuration(&c.TLS.Timeout, 30*time.Minute)
	if c.State.Backend == "" {
		c.State.Backend = "file"
	}
	defaultDuration(&c.State.Retention, 7*24*time.Hour)
	if c.State.LeaseName == "" {
		c.State.LeaseName = "cutoverbot-leader"
	}
	defaultDuration(&c.State.LeaseDuration, 15*time.Second)
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = ":8080"
	}
	if c.Schedule.Timezone == "" {
		c.Schedule.Timezone = "America/New_York"
	}
}

func defaultDuration(d *Duration, v time.Duration) {
	if d.raw == "" && d.Duration == 0 {
		d.Duration = v
	}
}
