// Package pgserver starts throwaway PostgreSQL servers, one per simulated cluster,
// loaded with a MeshDB-shaped database. Tests and the sandbox demo use it; it runs the
// real initdb, pg_ctl, pg_dump, pg_restore and psql.
//
// PostgreSQL refuses to run as root, and CI runs as root. As root, initdb and pg_ctl
// run as the `postgres` system user (Debian's postgresql package creates it): the
// directory given to Start is chowned to it, and the directories above it that lie
// under the system temp dir (t.TempDir() makes them 0700) get the search bit for
// others so that user can reach it. When dir sits below some other unreachable
// directory (say /root), the server lives in a fresh postgres-owned directory under
// the system temp dir instead, and Stop removes it.
//
// Servers listen on 127.0.0.1 only, with no unix socket: a socket path inside a deep
// test directory can exceed the 107-byte limit of sun_path.
package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is one running PostgreSQL server on 127.0.0.1.
type Server struct {
	bin       string // directory of initdb, pg_ctl, pg_dump, ...
	dir       string // holds data/ and postgresql.log
	data      string
	logFile   string
	removeDir bool                // Stop removes dir: Start made it as the fallback
	cred      *syscall.Credential // the postgres system user, when we are root
	port      int
	stopOnce  sync.Once
}

// BinDir finds the PostgreSQL server binaries: initdb on PATH, else the newest
// /usr/lib/postgresql/*/bin (Debian's layout).
func BinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", errors.New("PostgreSQL server tools (initdb) not found on PATH nor in /usr/lib/postgresql/*/bin: install Debian's postgresql package (make setup does)")
	}
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	return filepath.Dir(matches[0]), nil
}

func version(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// Start makes a data directory inside dir (created if needed) and starts a server on
// a free port of 127.0.0.1, tuned for speed over durability. Call Stop when done,
// also after an error is impossible: Start cleans up after itself when it fails.
func Start(ctx context.Context, dir string) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	for _, tool := range []string{"pg_ctl", "postgres", "psql", "pg_dump", "pg_restore"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			return nil, fmt.Errorf("%s has initdb but no %s: install Debian's postgresql and postgresql-client packages", bin, tool)
		}
	}
	s := &Server{bin: bin}
	if err := s.prepareDir(dir); err != nil {
		return nil, err
	}
	s.data = filepath.Join(s.dir, "data")
	s.logFile = filepath.Join(s.dir, "postgresql.log")
	if out, err := s.command(ctx, "initdb", "-D", s.data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("initdb in %s: %w: %s", s.data, err, tail(out))
	}
	// Throwaway servers trade durability for speed.
	conf := "\n# pgserver: a throwaway test server\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n" +
		"shared_buffers = 64MB\nmaintenance_work_mem = 128MB\nmax_connections = 40\nmax_wal_size = 1GB\n" +
		"listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
	if err := appendFile(filepath.Join(s.data, "postgresql.conf"), conf); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("configure %s: %w", s.data, err)
	}
	// The free port can be taken between the probe and the bind: try a few.
	for attempt := 0; attempt < 5; attempt++ {
		if s.port, err = freePort(); err != nil {
			break
		}
		var out []byte
		out, err = s.command(ctx, "pg_ctl", "-D", s.data, "-l", s.logFile, "-o", "-p "+strconv.Itoa(s.port),
			"-w", "-t", "60", "start").CombinedOutput()
		if err == nil {
			return s, nil
		}
		// A postmaster may be up (or coming up) although pg_ctl gave up or was killed.
		s.kill(s.postmasterPID())
		log, _ := os.ReadFile(s.logFile)
		err = fmt.Errorf("pg_ctl start on port %d: %w: %s; log: %s", s.port, err, tail(out), tail(log))
		if ctx.Err() != nil || !bytes.Contains(log, []byte("could not bind")) {
			break
		}
	}
	s.cleanup()
	return nil, err
}

// prepareDir makes dir usable by the user the server runs as.
func (s *Server) prepareDir(dir string) error {
	if dir == "" {
		return s.tempDir()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make the server directory: %w", err)
	}
	if os.Geteuid() != 0 {
		s.dir = dir
		return nil
	}
	if err := s.lookupPostgresUser(); err != nil {
		return err
	}
	real, err := filepath.Abs(dir)
	if err == nil {
		real, err = filepath.EvalSymlinks(real)
	}
	if err != nil {
		return fmt.Errorf("resolve %s: %w", dir, err)
	}
	if !openPath(real) {
		return s.tempDir()
	}
	if err := os.Chown(real, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("give %s to the postgres user: %w", real, err)
	}
	s.dir = real
	return nil
}

// openPath gives the directories above dir the search bit for others where they lie
// under the system temp dir; it reports false when some other ancestor blocks the way.
func openPath(dir string) bool {
	tmp, err := filepath.EvalSymlinks(os.TempDir())
	if err != nil {
		return false
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return false
		}
		if fi.Mode().Perm()&0o001 == 0 {
			rel, err := filepath.Rel(tmp, p)
			if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
				return false
			}
			// Search only: others may pass through, not list.
			if err := os.Chmod(p, fi.Mode().Perm()|0o001); err != nil {
				return false
			}
		}
		if p == filepath.Dir(p) {
			return true
		}
	}
}

// tempDir is the fallback: a fresh directory under the system temp dir.
func (s *Server) tempDir() error {
	d, err := os.MkdirTemp("", "cutoverbot-pg-")
	if err != nil {
		return fmt.Errorf("make a server directory: %w", err)
	}
	s.dir, s.removeDir = d, true
	if os.Geteuid() != 0 {
		return nil
	}
	if err := s.lookupPostgresUser(); err != nil {
		os.RemoveAll(d)
		return err
	}
	if err := os.Chown(d, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		os.RemoveAll(d)
		return fmt.Errorf("give %s to the postgres user: %w", d, err)
	}
	return nil
}

func (s *Server) lookupPostgresUser() error {
	if s.cred != nil {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return errors.New("running as root, and PostgreSQL refuses to: it needs the `postgres` system user, which Debian's postgresql package creates")
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("postgres user has uid %q gid %q: not numbers", u.Uid, u.Gid)
	}
	// Groups empty on purpose: root's supplementary groups are dropped.
	s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	return nil
}

// command runs a server binary, as the postgres user when we are root. The
// credentials are set on the process itself (no runuser in between), so cancelling
// ctx kills the tool rather than a wrapper.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir // the postgres user may not be able to stay in our working directory
	cmd.WaitDelay = 5 * time.Second
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

// Stop stops the server at once (no checkpoint: the data is thrown away), kills the
// postmaster if pg_ctl could not, and removes the directory when Start made it. It is
// safe to call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The pid is read first: pg_ctl returns once postmaster.pid is gone, which the
		// postmaster removes a moment before it exits.
		pid := s.postmasterPID()
		_ = s.command(ctx, "pg_ctl", "-D", s.data, "-m", "immediate", "-w", "-t", "20", "stop").Run()
		s.kill(pid)
		s.cleanup()
	})
}

// kill ends the postmaster pid, if it is still this server's: SIGQUIT (immediate
// shutdown), then SIGKILL. It waits until the process is gone.
func (s *Server) kill(pid int) {
	if pid <= 0 {
		return
	}
	for _, sig := range []syscall.Signal{0, syscall.SIGQUIT, syscall.SIGKILL} {
		if !s.isOurPostmaster(pid) {
			return
		}
		if err := syscall.Kill(pid, sig); err != nil {
			return
		}
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if !s.isOurPostmaster(pid) {
				return
			}
		}
	}
}

// postmasterPID reads postmaster.pid, and trusts it only if that process runs with
// our data directory (a stale file's pid may belong to someone else by now).
func (s *Server) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(s.data, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 || !s.isOurPostmaster(pid) {
		return 0
	}
	return pid
}

// isOurPostmaster reports whether pid is alive (not a zombie) and runs on s.data.
func (s *Server) isOurPostmaster(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(cmdline, []byte(s.data))
}

func (s *Server) cleanup() {
	if s.removeDir {
		os.RemoveAll(s.dir)
	}
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Host is the address clients connect to.
func (s *Server) Host() string { return "127.0.0.1" }

// Dir is the directory holding the data directory and the server log.
func (s *Server) Dir() string { return s.dir }

// Env is the environment that points libpq clients at this server.
func (s *Server) Env() []string {
	return []string{"PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(s.port), "PGCONNECT_TIMEOUT=10"}
}

// Run runs a command as if inside this cluster's postgres pod: PostgreSQL clients of
// the server's own version come first on PATH and reach this server through PGHOST
// and PGPORT. It returns the command's exit status; err is only for a command that
// could not start. A missing command exits 127 with a shell's message, as in a pod.
func (s *Server) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(argv) == 0 {
		return 127, errors.New("run: empty command")
	}
	path := argv[0]
	if !strings.Contains(path, "/") {
		if _, err := os.Stat(filepath.Join(s.bin, path)); err == nil {
			path = filepath.Join(s.bin, path)
		} else if p, err := exec.LookPath(path); err == nil {
			path = p
		} else {
			if stderr != nil {
				fmt.Fprintf(stderr, "sh: 1: %s: not found\n", argv[0])
			}
			return 127, nil
		}
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	// Later entries win in os/exec, so these override any PG* of our own environment.
	cmd.Env = append(append(os.Environ(), s.Env()...), "PATH="+s.bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if code := ee.ExitCode(); code >= 0 {
			return code, nil
		}
		return 137, nil // killed by a signal, as a shell reports it
	}
	if err != nil {
		return 126, fmt.Errorf("run %s: %w", argv[0], err)
	}
	return 0, nil
}

// SQL runs SQL (psql -c) as the superuser in db and returns the unaligned,
// tuples-only output.
func (s *Server) SQL(ctx context.Context, db, sql string) (string, error) {
	var out, errb bytes.Buffer
	code, err := s.Run(ctx, []string{"psql", "-U", "postgres", "-d", db, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql}, nil, &out, &errb)
	if err != nil {
		return "", err
	}
	if code != 0 {
		return out.String(), fmt.Errorf("psql in %s on port %d exited %d: %s", db, s.port, code, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// SQLAs runs a script of one or many statements as role (say the database owner, so
// the objects it makes belong to it, as in MeshDB).
func (s *Server) SQLAs(ctx context.Context, db, role, sql string) (string, error) {
	return s.sqlAs(ctx, db, role, sql)
}

// sqlAs runs a script (one or many statements, fed on stdin) as a role, stopping at
// the first error.
func (s *Server) sqlAs(ctx context.Context, db, role, sql string) (string, error) {
	var out, errb bytes.Buffer
	code, err := s.Run(ctx, []string{"psql", "-U", role, "-d", db, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"}, strings.NewReader(sql), &out, &errb)
	if err != nil {
		return "", err
	}
	if code != 0 {
		return out.String(), fmt.Errorf("psql as %s in %s on port %d exited %d: %s", role, db, s.port, code, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 800 {
		s = "…" + s[len(s)-800:]
	}
	return s
}
