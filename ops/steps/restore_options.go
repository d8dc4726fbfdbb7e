package steps

import (
	"context"
	"fmt"

	"github.com/nycmeshnet/cutoverbot/ops/engine"
	"github.com/nycmeshnet/cutoverbot/ops/pg"
)

// restoreOptions chooses pg_restore's jobs and the maintenance_work_mem of its
// sessions in pgx's pod: what the configuration fixes, else what the pod may use
// (restore_jobs and restore_maintenance_work_mem: auto). how says what was chosen and
// why, for the summary. A pod that cannot say what it has gets one job and the
// server's setting: slower, never wrong.
func (c *ClusterSteps) restoreOptions(ctx context.Context, x engine.StepContext, pgx podExec) (opts pg.RestoreOptions, how string) {
	opts.Jobs = x.Step.Restore.Jobs
	memAuto, memKB := c.cfg.Database.RestoreMaintenance()
	var res pg.PodResources
	var resErr error
	if opts.Jobs == 0 || memAuto {
		res, resErr = pg.ReadPodResources(ctx, pgx)
	}
	how = fmt.Sprintf("-j %d", opts.Jobs)
	if opts.Jobs == 0 {
		if resErr != nil {
			opts.Jobs = 1
			how = fmt.Sprintf("-j 1: %v", resErr)
		} else {
			opts.Jobs = res.AutoJobs()
			how = fmt.Sprintf("-j %d for %s", opts.Jobs, res)
		}
	}
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
			return opts, how + fmt.Sprintf("; maintenance_work_mem left as the server has it (%v)", err)
		case cur >= kb:
			return opts, how + fmt.Sprintf("; maintenance_work_mem left at the server's %s", kbString(cur))
		}
		opts.MaintenanceWorkMemKB = kb
	}
	if opts.MaintenanceWorkMemKB > 0 {
		how += fmt.Sprintf("; maintenance_work_mem %s in its sessions", kbString(opts.MaintenanceWorkMemKB))
	}
	return opts, how
}

// kbString writes a PostgreSQL memory setting in kB the way SHOW does.
func kbString(kb int64) string {
	switch {
	case kb%(1<<20) == 0:
		return fmt.Sprintf("%dGB", kb>>20)
	case kb%(1<<10) == 0:
		return fmt.Sprintf("%dMB", kb>>10)
	}
	return fmt.Sprintf("%dkB", kb)
}
