package pg

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// State is what tells, cheaply, whether a database may have changed between two
// reads: any write moves the WAL insert position (a commit writes a record, DDL and
// vacuum write WAL), the row counters catch what the WAL would not show (unlogged
// tables), the sequences catch a nextval that wrote no WAL (values are logged 32 at a
// time), and OpenWrites counts transactions holding an xid, which may commit at any
// moment or be committed in WAL but not yet visible to a snapshot. Equal States with
// no open write mean nothing changed in between; any difference (background work
// such as autovacuum or a checkpoint included) is to be read as "may have changed".
type State struct {
	WALInsert  string // pg_current_wal_insert_lsn()
	RowChanges int64  // sum of n_tup_ins + n_tup_upd + n_tup_del in pg_stat_user_tables
	OpenWrites int64  // other backends holding a transaction id
	Sequences  string // md5 of every sequence's last_value
}

// StateSQL reads a State in one query.
const StateSQL = `SELECT pg_current_wal_insert_lsn(),
 (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables),
 (SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()),
 (SELECT coalesce(md5(string_agg(schemaname || '.' || sequencename || '=' || coalesce(last_value::text, 'null'), ',' ORDER BY schemaname, sequencename)), 'none') FROM pg_sequences)`

// ReadState reads the database's State through psql in the pod.
func ReadState(ctx context.Context, ex Execer, db DB) (State, error) {
	var out bytes.Buffer
	stderr := newTail(4096)
	if err := ex.Exec(ctx, PsqlArgv(db, StateSQL), nil, &out, stderr); err != nil {
		return State{}, fmt.Errorf("read the WAL position and row counters of %s: %w%s", db.Name, err, stderrNote(stderr))
	}
	return ParseState(strings.TrimSpace(out.String()))
}

// ParseState reads psql's unaligned answer to StateSQL.
func ParseState(line string) (State, error) {
	f := strings.Split(line, "|")
	if len(f) != 4 || f[0] == "" || f[3] == "" {
		return State{}, fmt.Errorf("unexpected answer to the state query: %q", line)
	}
	changes, err1 := strconv.ParseInt(f[1], 10, 64)
	open, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return State{}, fmt.Errorf("unexpected answer to the state query: %q", line)
	}
	return State{WALInsert: f[0], RowChanges: changes, OpenWrites: open, Sequences: f[3]}, nil
}

// String is the State in one line, also the form recorded and compared.
func (s State) String() string {
	return fmt.Sprintf("wal %s, %d row changes, %d open writes, sequences %s", s.WALInsert, s.RowChanges, s.OpenWrites, s.Sequences)
}

// Quiet says no other transaction held an xid when it was read.
func (s State) Quiet() bool { return s.OpenWrites == 0 }
