package handlers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nycmeshnet/cutoverbot/bot/message"
)

// ExpiringToken is a cluster credential of the bot's kubeconfig near its end.
type ExpiringToken struct {
	Cluster string
	Expires time.Time
}

// TokenWarning is the daily post in the channel while a cluster token ends within a week.
func TokenWarning(tokens []ExpiringToken, now time.Time) message.Message {
	sorted := append([]ExpiringToken(nil), tokens...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Expires.Before(sorted[j].Expires) })
	var lines []string
	for _, t := range sorted {
		left := t.Expires.Sub(now)
		when := t.Expires.UTC().Format("2006-01-02 15:04 MST")
		if left <= 0 {
			lines = append(lines, fmt.Sprintf("• *%s*: expired %s. Steps on %s fail until it is replaced.", t.Cluster, when, t.Cluster))
			continue
		}
		lines = append(lines, fmt.Sprintf("• *%s*: expires %s (in %s).", t.Cluster, when, within(left)))
	}
	text := "The bot's Kubernetes token for " + clusterNames(sorted) + " needs replacing"
	if len(sorted) > 1 {
		text = "The bot's Kubernetes tokens for " + clusterNames(sorted) + " need replacing"
	}
	return message.Message{
		Text:     text,
		Sections: []string{":warning: " + text + ":\n" + strings.Join(lines, "\n")},
		Context:  []string{"Make a new token and update the kubeconfig Secret (docs/operations.md, token rotation); `cutoverbot check` shows every expiry."},
	}
}

func clusterNames(ts []ExpiringToken) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Cluster
	}
	return strings.Join(names, " and ")
}

// within says how far off an end is, in days, or hours on the last day.
func within(d time.Duration) string {
	switch h := int(d.Hours()); {
	case h >= 48:
		return fmt.Sprintf("%d days", h/24)
	case h >= 24:
		return "1 day"
	case h >= 2:
		return fmt.Sprintf("%d hours", h)
	}
	return "less than 2 hours"
}
