package pg

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// A command started through pods/exec keeps running when its client goes away (the bot
// dies, loses its lease, its connection breaks): only its stream breaks. A pg_restore
// working on a file in the pod runs on, and a second one started by a retry would
// overlap it. So every long command the bot starts can be found and stopped
// afterwards: it runs with PGAPPNAME naming its run, step and attempt (its database
// sessions show it in pg_stat_activity), and records its pid in a file in the pod.

// AppPrefix starts the application_name of every session the bot's commands open.
const AppPrefix = "cutoverbot/"

// Tag names one attempt of one step of one run.
type Tag struct {
	Run     string
	Step    string
	Attempt int
}

// IsZero reports whether t names nothing (commands run untracked).
func (t Tag) IsZero() bool { return t.Run == "" }

// AppName is the application_name the attempt's sessions carry (PostgreSQL keeps 63 bytes).
func (t Tag) AppName() string {
	s := fmt.Sprintf("%s%s/%s/%d", AppPrefix, t.Run, t.Step, t.Attempt)
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// RunPrefix starts the application_name of every session of t's run.
func (t Tag) RunPrefix() string { return AppPrefix + t.Run + "/" }

// Tracker is implemented by an Execer that can make a long command findable after its
// client has gone (a pod exec bound to a run, step and attempt): name says which of
// the attempt's commands it is (dump, restore, stage, ...).
type Tracker interface {
	Track(argv []string, name string) []string
}

func track(ex Execer, argv []string, name string) []string {
	if t, ok := ex.(Tracker); ok {
		return t.Track(argv, name)
	}
	return argv
}

// Tracked wraps argv so that it writes its pid to pidFile and runs with PGAPPNAME set
// to the tag's application name; exec keeps the pid. The variables of an argv made
// by WithEnv join PGAPPNAME.
func Tracked(argv []string, tag Tag, pidFile string) []string {
	env, cmd := splitEnv(argv)
	words := []string{shellQuote("PGAPPNAME=" + tag.AppName())}
	for _, a := range append(env, cmd...) {
		words = append(words, shellQuote(a))
	}
	return []string{"sh", "-c", "echo $$ > " + shellQuote(pidFile) + " && exec env " + strings.Join(words, " ")}
}

// splitEnv takes apart what WithEnv made: the variables and the command.
func splitEnv(argv []string) (env, cmd []string) {
	if len(argv) == 0 || argv[0] != "env" {
		return nil, argv
	}
	i := 1
	for i < len(argv) && isEnvWord(argv[i]) {
		i++
	}
	return argv[1:i], argv[i:]
}

var envWord = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

func isEnvWord(s string) bool { return envWord.MatchString(s) }

// Untracked returns the command a Tracked argv runs (without the variables it sets),
// its application name and pid file; ok is false for any other argv.
func Untracked(argv []string) (inner []string, appName, pidFile string, ok bool) {
	if len(argv) != 3 || argv[0] != "sh" || argv[1] != "-c" || !strings.HasPrefix(argv[2], "echo $$ > ") {
		return nil, "", "", false
	}
	words, ok := shellWords(strings.TrimPrefix(argv[2], "echo $$ > "))
	if !ok || len(words) < 6 || words[1] != "&&" || words[2] != "exec" || words[3] != "env" || !strings.HasPrefix(words[4], "PGAPPNAME=") {
		return nil, "", "", false
	}
	i := 5
	for i < len(words)-1 && isEnvWord(words[i]) {
		i++
	}
	return words[i:], strings.TrimPrefix(words[4], "PGAPPNAME="), words[0], true
}

// shellQuote quotes s for sh: single quotes, with each ' written as '\”.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// shellWords splits what shellQuote and bare words make; ok is false for anything else.
func shellWords(s string) ([]string, bool) {
	var words []string
	for s = strings.TrimLeft(s, " "); s != ""; s = strings.TrimLeft(s, " ") {
		var w strings.Builder
		for s != "" && s[0] != ' ' {
			switch {
			case strings.HasPrefix(s, `\'`):
				w.WriteByte('\'')
				s = s[2:]
			case s[0] == '\'':
				end := strings.IndexByte(s[1:], '\'')
				if end < 0 {
					return nil, false
				}
				w.WriteString(s[1 : 1+end])
				s = s[2+end:]
			default:
				w.WriteByte(s[0])
				s = s[1:]
			}
		}
		words = append(words, w.String())
	}
	return words, true
}

// Leftover is a command, or a database session, that an earlier attempt left running
// and that was stopped, as the run records it (its Cluster is the caller's to set).
type Leftover = report.Stopped

// StopLeftovers stops what the bot's commands left running in a pod and its database:
// the processes whose pid files match pidGlob (a shell glob) and that still run with
// a PGAPPNAME of the bot's, and the sessions whose application_name starts with
// prefix; except those of keep (the attempt now running, if any). It waits until they
// are gone, and removes the pid files of processes that have ended.
func StopLeftovers(ctx context.Context, ex Execer, db DB, pidGlob, prefix string, keep Tag) ([]Leftover, error) {
	if err := checkRemotePath(strings.ReplaceAll(pidGlob, "*", "x")); err != nil {
		return nil, err
	}
	keepApp := ""
	if !keep.IsZero() {
		keepApp = keep.AppName()
	}
	var stopped []Leftover
	// Processes first: a killed pg_restore opens no new session.
	var out bytes.Buffer
	stderr := newTail(4096)
	script := stopProcessesScript(pidGlob, prefix, keepApp)
	if err := ex.Exec(ctx, []string{"sh", "-c", script}, nil, &out, stderr); err != nil {
		return stopped, inPod(report.PodCommand{Of: report.CommandStopProcesses}, err, stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if f := strings.Fields(line); len(f) == 3 && (f[0] == "stopped" || f[0] == "killed") {
			stopped = append(stopped, Leftover{PID: f[1], PidFile: f[2], Killed: f[0] == "killed"})
		}
	}
	// Then the sessions, until none is left.
	sessions, err := terminateSessions(ctx, ex, db, prefix, keepApp)
	if err != nil {
		return stopped, err
	}
	stopped = append(stopped, sessions...)
	if len(sessions) == 0 {
		return stopped, nil
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		left, err := terminateSessions(ctx, ex, db, prefix, keepApp)
		return err == nil && len(left) == 0, nil
	})
	if err != nil {
		return stopped, report.Fail(report.SessionsLeft{Prefix: prefix}, err)
	}
	return stopped, nil
}

// stopProcessesScript is the sh script that stops the processes named in the pid files:
// SIGTERM, then SIGKILL after 10 s. A pid is trusted only while the process's
// environment still carries a PGAPPNAME starting with prefix (a pid is reused once its
// process is gone). It prints "stopped PID FILE" or "killed PID FILE" for each.
func stopProcessesScript(glob, prefix, keepApp string) string {
	return `alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
for f in ` + glob + `; do
  [ -f "$f" ] || continue
  pid=$(cat "$f" 2>/dev/null)
  case "$pid" in ''|*[!0-9]*) rm -f "$f"; continue;; esac
  if alive "$pid" && tr '\000' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qF ` + shellQuote("PGAPPNAME="+prefix) + `; then
    if [ -n ` + shellQuote(keepApp) + ` ] && tr '\000' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qxF ` + shellQuote("PGAPPNAME="+keepApp) + `; then continue; fi
    kill -TERM "$pid" 2>/dev/null
    i=0
    while alive "$pid" && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null; echo "killed $pid $f"; else echo "stopped $pid $f"; fi
  fi
  rm -f "$f"
done
exit 0`
}

// terminateSessions asks PostgreSQL to end every session whose application_name starts
// with prefix (but keepApp's) and returns each it found.
func terminateSessions(ctx context.Context, ex Execer, db DB, prefix, keepApp string) ([]Leftover, error) {
	like := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "%"
	sql := "SELECT pid, application_name, pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE " + sqlString(like) +
		" AND application_name <> " + sqlString(keepApp) + " AND pid <> pg_backend_pid()"
	var out bytes.Buffer
	stderr := newTail(4096)
	if err := ex.Exec(ctx, PsqlArgv(db, sql), nil, &out, stderr); err != nil {
		return nil, inPod(report.PodCommand{Of: report.CommandEndSessions, Database: db.Name}, err, stderr)
	}
	var found []Leftover
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			continue
		}
		if _, err := strconv.Atoi(f[0]); err == nil {
			found = append(found, Leftover{Session: true, PID: f[0], App: f[1]})
		}
	}
	return found, nil
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
