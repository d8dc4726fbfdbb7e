package config

import (
	"fmt"
	"log/slog"
)

// Secret holds a token or password. It cannot print itself: every formatting path
// (fmt verbs, JSON, YAML, slog) yields a fixed mask, so a secret that reaches a log
// line, a Slack message or the store by accident shows up as the mask, not the value.
type Secret struct{ value string }

// NewSecret wraps a value read from the environment.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the value for the one place that must send it (an Authorization header).
func (s Secret) Reveal() string { return s.value }

// Set reports whether a value is present.
func (s Secret) Set() bool { return s.value != "" }

const mask = "[redacted]"

func (s Secret) String() string   { return s.mask() }
func (s Secret) GoString() string { return s.mask() }

// Format covers every verb, including %#v and %x, which would otherwise reach the field.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.mask())) }

func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.mask() + `"`), nil }
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.mask()), nil }
func (s Secret) MarshalYAML() (any, error)    { return s.mask(), nil }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(s.mask()) }

func (s Secret) mask() string {
	if s.value == "" {
		return ""
	}
	return mask
}
