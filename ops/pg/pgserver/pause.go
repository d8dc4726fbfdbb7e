package pgserver

import (
	"context"
	"fmt"
	"strconv"
)

// Halt stops the server the way a crashed or evicted database pod stops (immediate
// shutdown: connections are cut, no checkpoint), keeping its data for Resume.
func (s *Server) Halt(ctx context.Context) error {
	out, err := s.command(ctx, "pg_ctl", "-D", s.data, "-m", "immediate", "-w", "-t", "30", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, tail(out))
	}
	return nil
}

// Resume starts a halted server again on the same port (it runs crash recovery).
func (s *Server) Resume(ctx context.Context) error {
	out, err := s.command(ctx, "pg_ctl", "-D", s.data, "-l", s.logFile, "-o", "-p "+strconv.Itoa(s.port),
		"-w", "-t", "60", "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start: %w: %s", err, tail(out))
	}
	return nil
}
