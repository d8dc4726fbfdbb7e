package pg

import (
	"regexp"
	"strconv"
	"strings"
)

var ignoredRe = regexp.MustCompile(`errors ignored on restore: (\d+)`)

// ParseRestoreLog reads pg_restore's stderr. "errors ignored on restore: N" (exit 1)
// means the data was restored but N statements failed, typically a missing role in a
// GRANT; those are reported, not fatal. Errors without that summary, or a connection
// failure, are fatal.
func ParseRestoreLog(log string) (ignored int, messages []string, fatal bool) {
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimSpace(line)
		if m := ignoredRe.FindStringSubmatch(line); m != nil {
			ignored, _ = strconv.Atoi(m[1])
			continue
		}
		if strings.HasPrefix(line, "pg_restore: error:") || strings.HasPrefix(line, "pg_restore: [archiver") || strings.Contains(line, "FATAL:") {
			messages = append(messages, line)
		}
		if strings.Contains(line, "could not connect") || strings.Contains(line, "connection to server") ||
			strings.Contains(line, "input file") || strings.Contains(line, "could not open input file") || strings.Contains(line, "FATAL:") {
			fatal = true
		}
	}
	if len(messages) > 0 && ignored == 0 {
		fatal = true
	}
	return ignored, messages, fatal
}
