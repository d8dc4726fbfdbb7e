package steps

import (
	"context"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// restoreOptions chooses pg_restore's jobs and the maintenance_work_mem of its
// sessions in pgx's pod: what the configuration fixes, else what the pod may use
// (restore_jobs and restore_maintenance_work_mem: auto). how says what was chosen and
// why, for the report. A pod that cannot say what it has gets one job and the
// server's setting: slower, never wrong.
func (c *ClusterSteps) restoreOptions(ctx context.Context, x engine.StepContext, pgx podExec) (opts pg.RestoreOptions, how report.Jobs) {
	opts.Jobs = x.Step.Restore.Jobs
	memAuto, memKB := c.cfg.Database.RestoreMaintenance()
	var res pg.PodResources
	var resErr error
	if opts.Jobs == 0 || memAuto {
		res, resErr = pg.ReadPodResources(ctx, pgx)
	}
	if opts.Jobs == 0 {
		if resErr != nil {
			opts.Jobs = 1
			how.ResourcesErr = resErr.Error()
		} else {
			opts.Jobs = res.AutoJobs()
			how.Resources = resources(res)
		}
	}
	how.Jobs = opts.Jobs
	switch {
	case memKB > 0:
		opts.MaintenanceWorkMemKB = memKB
	case memAuto && resErr == nil:
		kb := res.RestoreMaintenanceWorkMemKB(opts.Jobs)
		if kb == 0 {
			break
		}
		cur, err := pg.MaintenanceWorkMemKB(ctx, pgx, c.db)
		switch {
		case err != nil:
			how.MemErr = err.Error()
			return opts, how
		case cur >= kb:
			how.ServerMemKB = cur
			return opts, how
		}
		opts.MaintenanceWorkMemKB = kb
	}
	how.MemKB = opts.MaintenanceWorkMemKB
	return opts, how
}

// resources is what the pod may use, as the report gives it.
func resources(r pg.PodResources) *report.Resources {
	out := &report.Resources{Cores: r.Cores()}
	if r.CPUQuota > 0 && r.Cores() < max(r.CPUs, 1) {
		out.CPULimit = r.CPUQuota
	}
	switch {
	case r.MemLimit > 0:
		out.MemLimit = r.MemLimit
	case r.MemTotal > 0:
		out.MemTotal = r.MemTotal
	}
	return out
}
