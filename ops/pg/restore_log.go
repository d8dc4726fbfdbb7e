package pg

import (
	"regexp"
	"strconv"
	"strings"
)

var ignoredRe = regexp.MustCompile(`errors ignored on restore: (\d+)`)

// ParseRestoreLog reads pg_restore's stderr. "errors ignored on restore: N" (exit 1)
// means pg_restore went to the end and N statements failed, typically a GRANT to a
// missing role or a DROP of a missing object; those are reported, not fatal. Error
// lines without that summary, a failed connection, or a fatal message (pg_restore
// before 15 said "pg_restore: fatal:", the server says "FATAL:") are fatal.
func ParseRestoreLog(log string) (ignored int, messages []string, fatal bool) {
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimSpace(line)
		if m := ignoredRe.FindStringSubmatch(line); m != nil {
			ignored, _ = strconv.Atoi(m[1])
			continue
		}
		lower := strings.ToLower(line)
		if strings.HasPrefix(line, "pg_restore: error:") || strings.HasPrefix(line, "pg_restore: fatal:") ||
			strings.HasPrefix(line, "pg_restore: [archiver") || strings.Contains(lower, "fatal:") {
			messages = append(messages, line)
		}
		if strings.Contains(lower, "fatal:") || strings.Contains(line, "could not open input file") ||
			strings.Contains(line, "input file") || lostServer(lower) {
			fatal = true
		}
	}
	if len(messages) > 0 && ignored == 0 {
		fatal = true
	}
	return ignored, messages, fatal
}

// lostServer recognises the messages of a server that went away or refused us. Without
// --exit-on-error, pg_restore goes on after losing its connection and fails every item
// left ("could not execute query: no connection to the server"), then ends with
// "errors ignored on restore: N" like a restore that merely skipped a GRANT: those
// restores stopped part-way and must fail.
func lostServer(lower string) bool {
	for _, s := range []string{"could not connect", "connection to server", "no connection to the server",
		"server closed the connection", "terminating connection", "the database system is shutting down",
		"the database system is starting up", "could not receive data from server", "could not send data to server",
		"ssl connection has been closed", "connection refused", "connection reset"} {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}
