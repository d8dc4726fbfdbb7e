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
	if err := m.refresh(ctx); err != nil {
		return false, err
	}
	return slices.Contains(m.cached, user), nil
}

// refresh looks the group's members up when the cached list is older than the TTL;
// m.mu is held.
func (m *Maintainers) refresh(ctx context.Context) error {
	if !m.fetched.IsZero() && m.clock().Sub(m.fetched) < m.ttl {
		return nil
	}
	list, err := m.members(ctx, m.group)
	if err != nil {
		if m.fetched.IsZero() {
			return err
		}
		// Slack is briefly unreachable: the last known list is better than refusing everyone.
		return nil
	}
	m.cached, m.fetched = list, m.clock()
	return nil
}

// Approvers lists every maintainer, the configured users and the user group's
// members, once each, in that order.
func (m *Maintainers) Approvers(ctx context.Context) ([]string, error) {
	out := append([]string(nil), m.users...)
	if m.group == "" || m.members == nil {
		return out, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.refresh(ctx); err != nil {
		return out, err
	}
	for _, u := range m.cached {
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}
