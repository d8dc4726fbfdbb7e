package pg

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// State is what tells, cheaply, whether a database may have changed between two
// reads. Every change to a table's rows, its schema or a large object takes a
// transaction id, and its end moves the snapshot's xmax (the xid after the latest
// completed one); OpenWrites counts the transactions that hold an xid and have not
// ended, which may commit at any moment: backends and prepared transactions, or the
// snapshot's in-progress list when that is longer (pg_stat_activity hides other
// roles' xids from a role without pg_read_all_stats; the list misses the newest
// ones, above xmax). What changes data
// without an xid is a sequence's nextval/setval, hence the md5 of every sequence's
// last_value. The row counters are a second witness (stats, flushed late: they can
// only make a change look likelier). Equal States with no open write mean nothing
// changed in between. WAL that carries no transaction (checkpoints, the
// running-transactions record, page pruning by a reader, vacuum) moves none of these,
// so it no longer reads as "may have changed"; an ANALYZE (autovacuum's too) does.
type State struct {
	NextXid    string `json:"next_xid"`    // pg_snapshot_xmax(pg_current_snapshot())
	RowChanges int64  `json:"row_changes"` // sum of n_tup_ins + n_tup_upd + n_tup_del in pg_stat_user_tables
	OpenWrites int64  `json:"open_writes"` // transactions holding an xid, ours excepted
	Sequences  string `json:"sequences"`   // md5 of every sequence's last_value
}

// StateSQL reads a State in one query (PostgreSQL 13 or later). Its own transaction
// is read-only and takes no xid.
const StateSQL = `SELECT pg_snapshot_xmax(snap.s),
 (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables),
 greatest((SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()) + (SELECT count(*) FROM pg_prepared_xacts),
   (SELECT count(*) FROM pg_snapshot_xip(snap.s))),
 (SELECT coalesce(md5(string_agg(schemaname || '.' || sequencename || '=' || coalesce(last_value::text, 'null'), ',' ORDER BY schemaname, sequencename)), 'none') FROM pg_sequences)
 FROM (SELECT pg_current_snapshot() AS s) snap`

// ReadState reads the database's State through psql in the pod.
func ReadState(ctx context.Context, ex Execer, db DB) (State, error) {
	var out bytes.Buffer
	stderr := newTail(4096)
	if err := ex.Exec(ctx, PsqlArgv(db, StateSQL), nil, &out, stderr); err != nil {
		return State{}, inPod(report.PodCommand{Of: report.CommandState, Database: db.Name}, err, stderr)
	}
	return ParseState(strings.TrimSpace(out.String()))
}

// ParseState reads psql's unaligned answer to StateSQL.
func ParseState(line string) (State, error) {
	f := strings.Split(line, "|")
	if len(f) != 4 || f[0] == "" || f[3] == "" {
		return State{}, report.Fail(report.UnexpectedAnswer{Of: report.AnswerState, Said: line}, nil)
	}
	changes, err1 := strconv.ParseInt(f[1], 10, 64)
	open, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return State{}, report.Fail(report.UnexpectedAnswer{Of: report.AnswerState, Said: line}, nil)
	}
	if _, err := strconv.ParseUint(f[0], 10, 64); err != nil {
		return State{}, report.Fail(report.UnexpectedAnswer{Of: report.AnswerState, Said: line}, nil)
	}
	return State{NextXid: f[0], RowChanges: changes, OpenWrites: open, Sequences: f[3]}, nil
}

// String is the State in one line, also the form recorded and compared.
func (s State) String() string {
	return fmt.Sprintf("next xid %s, %d row changes, %d open writes, sequences %s", s.NextXid, s.RowChanges, s.OpenWrites, s.Sequences)
}

// ParseStateString reads back the one-line form of String (runs stored by earlier
// versions recorded states that way).
func ParseStateString(line string) (State, error) {
	var s State
	if _, err := fmt.Sscanf(line, "next xid %s %d row changes, %d open writes, sequences %s", &s.NextXid, &s.RowChanges, &s.OpenWrites, &s.Sequences); err != nil {
		return State{}, report.Fail(report.UnexpectedAnswer{Of: report.AnswerRecordedState, Said: line}, err)
	}
	s.NextXid = strings.TrimSuffix(s.NextXid, ",")
	return s, nil
}

// Quiet says no other transaction held an xid when it was read.
func (s State) Quiet() bool { return s.OpenWrites == 0 }
