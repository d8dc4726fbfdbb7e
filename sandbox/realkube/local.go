package realkube

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// LocalExec runs each command as a process of this machine, as if the container's root
// were this machine's: for tests of the exec path itself.
func LocalExec(ctx context.Context, req ExecRequest) (int, error) {
	if len(req.Command) == 0 {
		return 126, errors.New("empty command")
	}
	path, err := exec.LookPath(req.Command[0])
	if err != nil {
		_, _ = req.Stderr.Write([]byte("sh: 1: " + req.Command[0] + ": not found\n"))
		return 127, nil
	}
	cmd := exec.CommandContext(ctx, path, req.Command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = req.Stdin, req.Stdout, req.Stderr
	cmd.WaitDelay = 5 * time.Second
	return ExitCode(cmd.Run())
}

// ExitCode turns the error of exec.Cmd.Run into a shell's exit status: the code, or 128 plus
// the signal that killed the process. Other errors (the program could not start) are returned.
func ExitCode(err error) (int, error) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 126, err
	}
	return 0, nil
}
