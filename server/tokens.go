package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/config"
)

// Cluster tokens made with `kubectl create token --duration=8760h` end after a year;
// the bot then fails at its first step. `check` warns a month ahead, the running bot
// says so in the channel once a day from a week ahead.
const (
	checkWarnAhead = 30 * 24 * time.Hour
	botWarnAhead   = 7 * 24 * time.Hour
)

// TokenExpiry is what the kubeconfig says of one cluster's credential.
type TokenExpiry struct {
	Cluster string
	// Expires is the token's JWT exp; zero when the token carries none (a legacy
	// service-account Secret token) or the credential is no bearer token.
	Expires time.Time
	// Note says why there is no expiry, or what could not be read.
	Note string
	Err  error
}

// TokenExpiries reads each cluster's bearer token from its kubeconfig and decodes its
// expiry (the `exp` claim of a service-account JWT). It dials nothing and never
// returns or prints a token.
func TokenExpiries(cfg *config.Config) []TokenExpiry {
	names := make([]string, 0, len(cfg.Clusters))
	for name := range cfg.Clusters {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]TokenExpiry, 0, len(names))
	for _, name := range names {
		out = append(out, tokenExpiry(name, cfg.Clusters[name]))
	}
	return out
}

func tokenExpiry(name string, cc config.Cluster) TokenExpiry {
	te := TokenExpiry{Cluster: name}
	if cc.Kubeconfig == "" {
		te.Note = "the pod's own service account (the kubelet renews its token)"
		return te
	}
	kc, err := clientcmd.LoadFromFile(cc.Kubeconfig)
	if err != nil {
		te.Err = fmt.Errorf("read kubeconfig %s: %w", cc.Kubeconfig, err)
		return te
	}
	ctxName := cc.Context
	if ctxName == "" {
		ctxName = kc.CurrentContext
	}
	kctx, ok := kc.Contexts[ctxName]
	if !ok {
		te.Err = fmt.Errorf("kubeconfig %s has no context %q", cc.Kubeconfig, ctxName)
		return te
	}
	user, ok := kc.AuthInfos[kctx.AuthInfo]
	if !ok {
		te.Err = fmt.Errorf("kubeconfig %s: context %q names user %q, which it does not define", cc.Kubeconfig, ctxName, kctx.AuthInfo)
		return te
	}
	token := user.Token
	if token == "" && user.TokenFile != "" {
		b, err := os.ReadFile(user.TokenFile)
		if err != nil {
			te.Err = fmt.Errorf("read the token file of context %q: %w", ctxName, err)
			return te
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		te.Note = "no bearer token (client certificate or exec plugin): expiry not known here"
		return te
	}
	exp, err := jwtExpiry(token)
	switch {
	case errors.Is(err, errNoExpiry):
		te.Note = "the token carries no expiry"
	case err != nil:
		te.Err = fmt.Errorf("the token of context %q: %w", ctxName, err)
	default:
		te.Expires = exp
	}
	return te
}

var errNoExpiry = errors.New("no exp claim")

// jwtExpiry decodes the exp claim of a JWT without checking its signature: the API
// server checks the token; this only reads when it ends.
func jwtExpiry(token string) (time.Time, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, errNoExpiry // an opaque token, not a JWT
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, fmt.Errorf("not a JWT (its payload is not base64url): %w", err)
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, fmt.Errorf("not a JWT (its payload is not JSON): %w", err)
	}
	if claims.Exp == nil {
		return time.Time{}, errNoExpiry
	}
	secs, err := claims.Exp.Float64()
	if err != nil {
		return time.Time{}, fmt.Errorf("its exp claim %q is not a number", claims.Exp.String())
	}
	return time.Unix(int64(secs), 0).UTC(), nil
}

// TokenChecks are the lines `cutoverbot check` prints for the cluster tokens: a
// failure when a token has expired or cannot be read, a warning within 30 days.
func TokenChecks(cfg *config.Config, now time.Time) []CheckResult {
	var out []CheckResult
	for _, te := range TokenExpiries(cfg) {
		name := "token " + te.Cluster
		left := te.Expires.Sub(now)
		switch {
		case te.Err != nil:
			out = append(out, CheckResult{Name: name, Msg: te.Err.Error()})
		case te.Expires.IsZero():
			out = append(out, CheckResult{Name: name, OK: true, Msg: te.Note})
		case left <= 0:
			out = append(out, CheckResult{Name: name, Msg: fmt.Sprintf("expired %s: make a new one (docs/operations.md, token rotation)", te.Expires.Format(time.RFC3339))})
		case left <= checkWarnAhead:
			out = append(out, CheckResult{Name: name, OK: true, Warn: true, Msg: fmt.Sprintf("expires %s, in %s: rotate it (docs/operations.md, token rotation)", te.Expires.Format(time.RFC3339), days(left))})
		default:
			out = append(out, CheckResult{Name: name, OK: true, Msg: fmt.Sprintf("expires %s, in %s", te.Expires.Format(time.RFC3339), days(left))})
		}
	}
	return out
}

func days(d time.Duration) string {
	n := int(d.Hours() / 24)
	if n == 1 {
		return "1 day"
	}
	if n == 0 {
		return "less than a day"
	}
	return fmt.Sprintf("%d days", n)
}

// tokenWarnedKey holds the UTC day of the last warning in the channel, so a restart
// on the same day does not warn again.
const tokenWarnedKey = "tokens/warned"

// warnExpiringTokens posts one warning in the channel when a cluster token ends within
// a week (or has ended), at most once per UTC day.
func (s *Server) warnExpiringTokens(ctx context.Context) error {
	now := s.opts.Clock().UTC()
	today := now.Format(time.DateOnly)
	var last string
	if err := s.store.Values(ctx, tokenWarnedKey, func(key string, raw []byte) error {
		if key == tokenWarnedKey {
			return json.Unmarshal(raw, &last)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("read when tokens were last warned of: %w", err)
	}
	if last == today {
		return nil
	}
	var soon []handlers.ExpiringToken
	for _, te := range TokenExpiries(s.cfg) {
		if !te.Expires.IsZero() && te.Expires.Sub(now) <= botWarnAhead {
			soon = append(soon, handlers.ExpiringToken{Cluster: te.Cluster, Expires: te.Expires})
		}
	}
	if len(soon) == 0 {
		return nil
	}
	if err := s.post(ctx, handlers.TokenWarning(soon, now)); err != nil {
		return fmt.Errorf("post the token warning: %w", err)
	}
	return s.store.PutValue(ctx, tokenWarnedKey, today)
}
