package pg

import (
	"bytes"
	"context"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// MaintenanceState reads MAINTENANCE_MODE from flags_flagstate: no row means off.
// django-flags reads a boolean condition with strtobool and turns the flag on when any
// of its conditions holds, so several rows (the table has no unique key) count as on
// when any says true.
func MaintenanceState(ctx context.Context, ex Execer, db DB) (bool, error) {
	var out bytes.Buffer
	stderr := newTail(2048)
	if err := ex.Exec(ctx, PsqlArgv(db, MaintenanceQuerySQL()), nil, &out, stderr); err != nil {
		return false, inPod(report.PodCommand{Of: report.CommandMaintenanceRead, Database: db.Name}, err, stderr)
	}
	on := false
	for _, v := range strings.Split(out.String(), "\n") {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "y", "yes", "t", "true", "on", "1":
			on = true
		case "n", "no", "f", "false", "off", "0", "":
		default:
			return false, report.Fail(report.UnexpectedAnswer{Of: report.AnswerMaintenance, Said: strings.TrimSpace(v), Database: db.Name}, nil)
		}
	}
	return on, nil
}

// SetMaintenanceSQL sets the flag with SQL: the fallback when no meshweb pod can run
// manage.py (they restart while the flag is on).
func SetMaintenanceSQL(ctx context.Context, ex Execer, db DB, on bool) error {
	stderr := newTail(2048)
	if err := ex.Exec(ctx, PsqlArgv(db, MaintenanceSetSQL(on)), nil, &bytes.Buffer{}, stderr); err != nil {
		return inPod(report.PodCommand{Of: report.CommandMaintenanceSet, Database: db.Name}, err, stderr)
	}
	return nil
}
