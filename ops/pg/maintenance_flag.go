package pg

import (
	"bytes"
	"context"
	"fmt"
	"strings"
)

// MaintenanceState reads MAINTENANCE_MODE from flags_flagstate: no row means off.
func MaintenanceState(ctx context.Context, ex Execer, db DB) (bool, error) {
	var out bytes.Buffer
	stderr := newTail(2048)
	if err := ex.Exec(ctx, PsqlArgv(db, MaintenanceQuerySQL()), nil, &out, stderr); err != nil {
		return false, fmt.Errorf("read MAINTENANCE_MODE: %w%s", err, stderrNote(stderr))
	}
	v := strings.TrimSpace(out.String())
	switch v {
	case "True":
		return true, nil
	case "False", "":
		return false, nil
	}
	return false, fmt.Errorf("MAINTENANCE_MODE has value %q, neither True nor False", v)
}

// SetMaintenanceSQL sets the flag with SQL: the fallback when no meshweb pod can run
// manage.py (they restart while the flag is on).
func SetMaintenanceSQL(ctx context.Context, ex Execer, db DB, on bool) error {
	stderr := newTail(2048)
	if err := ex.Exec(ctx, PsqlArgv(db, MaintenanceSetSQL(on)), nil, &bytes.Buffer{}, stderr); err != nil {
		return fmt.Errorf("set MAINTENANCE_MODE in SQL: %w%s", err, stderrNote(stderr))
	}
	return nil
}
