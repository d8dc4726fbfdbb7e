package handlers

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/nycmeshnet/cutoverbot/ops/config"
)

// GroupMembers lists a Slack user group's members (usergroups.users.list).
type GroupMembers func(ctx context.Context, group string) ([]string, error)

// Maintainers is the engine's Policy: the configured users plus the members of the
// configured user group, looked up at most once per TTL.
type Maintainers struct {
	users   []string
	group   string
	members GroupMembers
	ttl     time.Duration
	clock   func() time.Time

	mu      sync.Mutex
	cached  []string
	fetched time.Time
}

// NewMaintainers builds the policy from slack.maintainers.
func NewMaintainers(m config.Maintainers, members GroupMembers, ttl time.Duration, clock func() time.Time) *Maintainers {
	if clock == nil {
		clock = time.Now
	}
	return &Maintainers{users: m.Users, group: m.Usergroup, members: members, ttl: ttl, clock: clock}
}

// IsMaintainer reports whether user may start, approve and abort.
func (m *Maintainers) IsMaintainer(ctx context.Context, user string) (bool, error) {
	if slices.Contains(m.users, user) {
		return true, nil
	}
	if m.group == "" || m.members == nil {
		return false, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fetched.IsZero() || m.clock().Sub(m.fetched) >= m.ttl {
		list, err := m.members(ctx, m.group)
		if err != nil {
			if m.fetched.IsZero() {
				return false, err
			}
			// Slack is briefly unreachable: the last known list is better than refusing everyone.
		} else {
			m.cached, m.fetched = list, m.clock()
		}
	}
	return slices.Contains(m.cached, user), nil
}
