package pg

import "strconv"

// DB names the database and role the cutover acts on.
type DB struct {
	Name          string
	User          string
	ExcludeTables []string
	// Compress is pg_dump's -Z argument ("0" to "9"); empty leaves pg_dump's
	// default (zlib level 6 for -Fc).
	Compress string
}

// DumpArgv is the dump command: custom format, no TTY, streamed out of the pod.
func DumpArgv(db DB) []string {
	argv := []string{"pg_dump", "-d", db.Name, "-U", db.User, "-Fc"}
	if db.Compress != "" {
		argv = append(argv, "-Z", db.Compress)
	}
	return argv
}

// RestoreArgv restores a custom-format file. --if-exists keeps -c from failing on
// objects that are missing; -j only works from a file, which is why the dump is copied
// into the pod first.
func RestoreArgv(db DB, file string, jobs int) []string {
	argv := []string{"pg_restore", "-d", db.Name, "-U", db.User, "-c", "--if-exists"}
	if jobs > 1 {
		argv = append(argv, "-j", strconv.Itoa(jobs))
	}
	return append(argv, file)
}

// WithEnv runs argv with environment variables set (NAME=value each): through env(1),
// which Tracked folds into its own.
func WithEnv(argv []string, env ...string) []string {
	if len(env) == 0 {
		return argv
	}
	return append(append([]string{"env"}, env...), argv...)
}

// RestoreEnv is the environment of a restore whose sessions set
// maintenance_work_mem to kb (index and constraint builds sort in it); none for 0.
// PGOPTIONS reaches every connection pg_restore -j opens, and only those.
func RestoreEnv(maintenanceKB int64) []string {
	if maintenanceKB <= 0 {
		return nil
	}
	return []string{"PGOPTIONS=-c maintenance_work_mem=" + strconv.FormatInt(maintenanceKB, 10) + "kB"}
}

// PsqlArgv runs one SQL text, unaligned and tuples-only, stopping at the first error.
func PsqlArgv(db DB, sql string) []string {
	return []string{"psql", "-d", db.Name, "-U", db.User, "-X", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql}
}

// MaintenanceQuerySQL reads the MAINTENANCE_MODE flag: one line per row ("True",
// "False"), nothing when there is no row (off).
func MaintenanceQuerySQL() string {
	return "SELECT value FROM flags_flagstate WHERE name = 'MAINTENANCE_MODE' AND condition = 'boolean'"
}

// MaintenanceSetSQL sets the flag the way django-flags stores it ('True'/'False' in
// a boolean condition), in one transaction that leaves exactly one such row whatever
// was there: the table has no unique key, and a stray second row would keep the flag
// on.
func MaintenanceSetSQL(on bool) string {
	v := "False"
	if on {
		v = "True"
	}
	return "BEGIN; DELETE FROM flags_flagstate WHERE name = 'MAINTENANCE_MODE' AND condition = 'boolean'; " +
		"INSERT INTO flags_flagstate (name, condition, value, required) VALUES ('MAINTENANCE_MODE', 'boolean', '" + v + "', false); COMMIT;"
}
