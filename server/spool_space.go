package server

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// The spool holds dumps and backups while a run goes and for state.retention after:
// a volume that fills up mid-dump fails the run in maintenance mode.
const (
	spoolMinFree     = 2 << 30 // bytes
	spoolMinFreePart = 0.2
)

// spoolSpace checks the volume that holds state.dir: an error when it cannot be read,
// warn when less than 20% or 2 GiB of it is free.
func spoolSpace(dir string) (msg string, warn bool, err error) {
	// Before the bot's first start state.dir may not exist yet: the volume it will be
	// on is the one of its nearest existing parent.
	at := dir
	for {
		if _, err := os.Stat(at); err == nil || filepath.Dir(at) == at {
			break
		}
		at = filepath.Dir(at)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(at, &st); err != nil {
		return "", false, fmt.Errorf("state.dir %s: %w: the spool (dumps, backups) lives there", dir, err)
	}
	total := st.Blocks * uint64(st.Bsize)
	free := st.Bavail * uint64(st.Bsize)
	msg = fmt.Sprintf("%s free of %s on the volume of %s", gib(free), gib(total), dir)
	if nearlyFull(free, total) {
		return msg + ": nearly full; a dump and the destination's backup need room there (and stay state.retention after the run)", true, nil
	}
	return msg, false, nil
}

func gib(n uint64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

// nearlyFull: less than 20% or 2 GiB free.
func nearlyFull(free, total uint64) bool {
	return free < spoolMinFree || float64(free) < spoolMinFreePart*float64(total)
}
