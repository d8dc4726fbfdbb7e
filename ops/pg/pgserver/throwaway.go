// Package pgserver starts throwaway PostgreSQL servers, one per simulated cluster,
// loaded with a MeshDB-shaped database. Tests and the sandbox demo use it; it runs the
// real initdb, pg_ctl, pg_dump, pg_restore and psql.
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
	"time"
)

// Server is one running PostgreSQL server on 127.0.0.1.
type Server struct {
	bin     string // directory of initdb, pg_ctl, pg_dump, ...
	data    string
	base    string // removed by Stop when the server made it
	owned   bool
	port    int
	asUser  string // the system user that runs the server, when we are root
	logFile string
}

// BinDir finds the PostgreSQL server binaries: initdb on PATH, else the newest
// /usr/lib/postgresql/*/bin (Debian's layout).
func BinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", errors.New("PostgreSQL server tools (initdb) not found: install Debian's postgresql package (make setup does)")
	}
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	return filepath.Dir(matches[0]), nil
}

func version(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// Start makes a data directory and starts a server on a free port. PostgreSQL refuses
// to run as root; as root, the server runs as the `postgres` system user in a
// directory it owns under the system temp dir (dir is then only a hint for the name).
func Start(ctx context.Context, dir string) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.New("running as root, PostgreSQL needs the `postgres` system user (Debian's postgresql package creates it)")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		base, err := os.MkdirTemp("", "cutoverbot-pg-")
		if err != nil {
			return nil, err
		}
		if err := os.Chown(base, uid, gid); err != nil {
			os.RemoveAll(base)
			return nil, fmt.Errorf("give %s to the postgres user: %w", base, err)
		}
		s.base, s.owned, s.asUser = base, true, "postgres"
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		s.base = dir
	}
	s.data = filepath.Join(s.base, "data")
	s.logFile = filepath.Join(s.base, "server.log")
	if out, err := s.command(ctx, "initdb", "-D", s.data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "-N").CombinedOutput(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("initdb: %v: %s", err, tail(out))
	}
	// Throwaway servers trade durability for speed.
	conf := "\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 64MB\nmax_connections = 40\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nmax_wal_size = 1GB\n"
	if err := appendFile(filepath.Join(s.data, "postgresql.conf"), conf); err != nil {
		s.cleanup()
		return nil, err
	}
	for attempt := 0; attempt < 5; attempt++ {
		s.port, err = freePort()
		if err != nil {
			break
		}
		var out []byte
		out, err = s.command(ctx, "pg_ctl", "-D", s.data, "-l", s.logFile, "-o", "-p "+strconv.Itoa(s.port), "-w", "-t", "60", "start").CombinedOutput()
		if err == nil {
			return s, nil
		}
		err = fmt.Errorf("pg_ctl start: %v: %s %s", err, tail(out), tail(readTail(s.logFile)))
	}
	s.cleanup()
	return nil, err
}

// command runs a server binary, as the postgres user when we are root.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if s.asUser != "" {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", s.asUser, "--", path}, args...)...)
	}
	return exec.CommandContext(ctx, path, args...)
}

// Stop stops the server at once and removes what Start made.
func (s *Server) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.command(ctx, "pg_ctl", "-D", s.data, "-m", "immediate", "-w", "stop").Run()
	s.cleanup()
}

func (s *Server) cleanup() {
	if s.owned {
		os.RemoveAll(s.base)
	}
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Host is the address clients connect to.
func (s *Server) Host() string { return "127.0.0.1" }

// Env is the environment that points libpq clients at this server.
func (s *Server) Env() []string {
	return []string{"PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(s.port), "PGCONNECT_TIMEOUT=10"}
}

// Run runs a command as if inside this cluster's postgres pod: PostgreSQL clients on
// PATH (of the server's own version) reach this server. It returns the command's exit
// status; err is only for a command that could not start.
func (s *Server) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(argv) == 0 {
		return 127, errors.New("empty command")
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
	cmd.Env = append(append(os.Environ(), s.Env()...), "PATH="+s.bin+":"+os.Getenv("PATH"))
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
		return 126, err
	}
	return 0, nil
}

// SQL runs SQL as the superuser in db and returns the unaligned output.
func (s *Server) SQL(ctx context.Context, db, sql string) (string, error) {
	var out, errb bytes.Buffer
	code, err := s.Run(ctx, []string{"psql", "-U", "postgres", "-d", db, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql}, nil, &out, &errb)
	if err != nil {
		return "", err
	}
	if code != 0 {
		return out.String(), fmt.Errorf("psql exited %d: %s", code, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
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

func readTail(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 800 {
		s = "…" + s[len(s)-800:]
	}
	return s
}
