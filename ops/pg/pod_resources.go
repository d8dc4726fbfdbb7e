package pg

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// PodResources is what the postgres container may use, as it sees it from inside:
// the cores it is scheduled on, and its cgroup's CPU and memory limits (what
// Kubernetes sets from the container's resources.limits).
type PodResources struct {
	CPUs     int     // online cores (nproc)
	CPUQuota float64 // cores the cgroup's CPU quota allows; 0: no quota
	MemLimit int64   // bytes the cgroup allows; 0: no limit
	MemTotal int64   // bytes of memory the pod's kernel reports
}

// podResourcesScript prints one "key value..." line for each figure it finds
// (cgroup v2, then v1). Every file is optional: a missing one leaves its figure 0.
const podResourcesScript = `echo "nproc $(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)"
[ -r /sys/fs/cgroup/cpu.max ] && echo "cpu.max $(cat /sys/fs/cgroup/cpu.max)"
[ -r /sys/fs/cgroup/cpu/cpu.cfs_quota_us ] && echo "cpu.cfs $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null)"
[ -r /sys/fs/cgroup/memory.max ] && echo "memory.max $(cat /sys/fs/cgroup/memory.max)"
[ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ] && echo "memory.limit $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
grep '^MemTotal:' /proc/meminfo 2>/dev/null
exit 0`

// PodResourcesArgv reads the figures of PodResources in the pod.
func PodResourcesArgv() []string { return []string{"sh", "-c", podResourcesScript} }

// ReadPodResources asks the pod what it may use.
func ReadPodResources(ctx context.Context, ex Execer) (PodResources, error) {
	var out bytes.Buffer
	stderr := newTail(1024)
	if err := ex.Exec(ctx, PodResourcesArgv(), nil, &out, stderr); err != nil {
		return PodResources{}, inPod(report.PodCommand{Of: report.CommandResources}, err, stderr)
	}
	r := ParsePodResources(out.String())
	if r.CPUs < 1 {
		return r, report.Fail(report.UnexpectedAnswer{Of: report.AnswerNproc, Said: strings.TrimSpace(out.String())}, nil)
	}
	return r, nil
}

// ParsePodResources reads what PodResourcesArgv printed.
func ParsePodResources(out string) PodResources {
	var r PodResources
	num := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0
		}
		return n
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nproc":
			r.CPUs = int(num(f[1]))
		case "cpu.max", "cpu.cfs": // "QUOTA PERIOD"; "max" or -1 when there is none
			if len(f) == 3 && num(f[1]) > 0 && num(f[2]) > 0 {
				r.CPUQuota = float64(num(f[1])) / float64(num(f[2]))
			}
		case "memory.max", "memory.limit": // "max", or a huge number, when there is none
			r.MemLimit = num(f[1])
		case "MemTotal:": // in kB
			r.MemTotal = num(f[1]) * 1024
		}
	}
	if r.MemTotal > 0 && r.MemLimit >= r.MemTotal {
		r.MemLimit = 0 // no limit below what the node has
	}
	return r
}

// Cores is how many cores the container can keep busy: its CPU limit (rounded up)
// when it has one, else the cores it sees.
func (r PodResources) Cores() int {
	n := r.CPUs
	if r.CPUQuota > 0 {
		q := int(math.Ceil(r.CPUQuota - 0.05)) // 1.02 cores of quota is one core
		if n <= 0 || q < n {
			n = q
		}
	}
	return max(n, 1)
}

// Memory is the memory the container may use: its limit, else what the node has.
func (r PodResources) Memory() int64 {
	if r.MemLimit > 0 {
		return r.MemLimit
	}
	return r.MemTotal
}

// String says what the pod may use, for a summary: "2 cores (nproc), 4.0 GiB (limit)".
func (r PodResources) String() string {
	cores := fmt.Sprintf("%d cores (nproc)", r.Cores())
	if r.CPUQuota > 0 && r.Cores() < max(r.CPUs, 1) {
		cores = fmt.Sprintf("%d cores (CPU limit %.2f)", r.Cores(), r.CPUQuota)
	}
	mem := "memory unknown"
	switch {
	case r.MemLimit > 0:
		mem = fmt.Sprintf("%.1f GiB (memory limit)", float64(r.MemLimit)/(1<<30))
	case r.MemTotal > 0:
		mem = fmt.Sprintf("%.1f GiB (node)", float64(r.MemTotal)/(1<<30))
	}
	return cores + ", " + mem
}

// MaxAutoJobs caps the jobs chosen for a pod: MeshDB has about fifteen tables, the
// largest a quarter of the data, so more workers than this wait on it anyway, and
// each holds a database connection.
const MaxAutoJobs = 4

// AutoJobs is the parallel jobs for a pod: its cores, at most MaxAutoJobs.
func (r PodResources) AutoJobs() int { return min(r.Cores(), MaxAutoJobs) }

// Bounds of the maintenance_work_mem the restore sets for its own sessions.
const (
	minRestoreMaintenanceKB = 64 << 10 // PostgreSQL's default: never set lower
	maxRestoreMaintenanceKB = 1 << 20  // 1 GiB: sorts of MeshDB's indexes fit well within it
)

// RestoreMaintenanceWorkMemKB is the maintenance_work_mem (in kB) for each of jobs
// restore sessions: an eighth of the pod's memory shared among them, at most 1 GiB,
// and 0 (leave the server's setting) when that is not more than PostgreSQL's default.
// An index build uses up to this much in each session at once; shared_buffers and
// the rest of the server keep the other seven eighths.
func (r PodResources) RestoreMaintenanceWorkMemKB(jobs int) int64 {
	kb := r.Memory() / 1024 / 8 / int64(max(jobs, 1))
	kb = min(kb, maxRestoreMaintenanceKB)
	if kb <= minRestoreMaintenanceKB {
		return 0
	}
	return kb &^ 1023 // whole MB
}

// MaintenanceWorkMemKB reads the server's maintenance_work_mem, in kB.
func MaintenanceWorkMemKB(ctx context.Context, ex Execer, db DB) (int64, error) {
	var out bytes.Buffer
	stderr := newTail(1024)
	sql := "SELECT setting FROM pg_settings WHERE name = 'maintenance_work_mem' AND unit = 'kB'"
	if err := ex.Exec(ctx, PsqlArgv(db, sql), nil, &out, stderr); err != nil {
		return 0, inPod(report.PodCommand{Of: report.CommandWorkMem, Database: db.Name}, err, stderr)
	}
	kb, err := strconv.ParseInt(strings.TrimSpace(out.String()), 10, 64)
	if err != nil {
		return 0, report.Fail(report.UnexpectedAnswer{Of: report.AnswerWorkMem, Said: strings.TrimSpace(out.String()), Database: db.Name}, nil)
	}
	return kb, nil
}
