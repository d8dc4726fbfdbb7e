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
		if strings.Contains(lower, "fatal:") || strings.Contains(line, "could not connect") ||
			strings.Contains(line, "connection to server") || strings.Contains(line, "could not open input file") ||
			strings.Contains(line, "input file") {
			fatal = true
		}
	}
	if len(messages) > 0 && ignored == 0 {
		fatal = true
	}
	return ignored, messages, fatal
}
