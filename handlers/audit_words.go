package handlers

import "github.com/nycmeshnet/cutoverbot/ops/engine"

// AuditText is one entry of the audit log as a line for people (the terminal's
// history prints these).
func AuditText(a engine.AuditEntry) string {
	return say("audit/line", struct {
		A   engine.AuditEntry
		Why string
	}{a, AuditWhy(a)})
}

// AuditWhy is why an entry's change was made: the engine's note in words, else the
// reason it holds (a person's, what a step returned, or an earlier version's words).
func AuditWhy(a engine.AuditEntry) string {
	if a.Note != "" {
		return say("audit/note/"+string(a.Note), a)
	}
	// A step's failure is kept as data in the log (its kind and facts): worded here.
	return ErrText(a.Reason)
}
