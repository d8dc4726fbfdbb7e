package pg

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Fingerprint is one table's row count and the md5 of its rows in key order.
type Fingerprint struct {
	Table string
	Rows  int64
	MD5   string
}

// FingerprintDiff is one table that differs.
type FingerprintDiff struct {
	Table        string
	Origin, Dest *Fingerprint
}

func (d FingerprintDiff) String() string {
	switch {
	case d.Origin == nil:
		return fmt.Sprintf("%s: only on the destination (%d rows)", d.Table, d.Dest.Rows)
	case d.Dest == nil:
		return fmt.Sprintf("%s: missing on the destination (%d rows on the origin)", d.Table, d.Origin.Rows)
	case d.Origin.Rows != d.Dest.Rows:
		return fmt.Sprintf("%s: %d rows on the origin, %d on the destination", d.Table, d.Origin.Rows, d.Dest.Rows)
	}
	return fmt.Sprintf("%s: same %d rows, different content (md5 %s vs %s)", d.Table, d.Origin.Rows, short(d.Origin.MD5), short(d.Dest.MD5))
}

func short(md5 string) string {
	if len(md5) > 8 {
		return md5[:8]
	}
	return md5
}

// fingerprintSettings pin every setting that changes how a row prints as text, so two
// servers configured differently (another TimeZone, say) still agree on equal rows.
const fingerprintSettings = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; " +
	"SET extra_float_digits = 1; SET bytea_output = 'hex';\n"

// FingerprintSQL computes every table's fingerprint in one SELECT, after the SETs
// above, all sent as one psql -c. A plain SELECT cannot run a query per table, so
// for each table of schema public (but the excluded, and partitions, whose rows their
// parent shows) query_to_xml runs count(*) and the md5 of the rows' md5s in
// primary-key order (whole-row order for a table without a key), and xpath reads
// both back. Keys sort with the "C" collation, so the servers' default collations do
// not matter. Hashing each row first keeps the aggregate at 32 bytes a row, far from
// the 1 GB limit of a text value whatever the table's size.
func FingerprintSQL(exclude []string) string {
	ex := make([]string, len(exclude))
	for i, t := range exclude {
		ex[i] = "'" + strings.ReplaceAll(t, "'", "''") + "'"
	}
	excluded := "ARRAY[]::text[]"
	if len(ex) > 0 {
		excluded = "ARRAY[" + strings.Join(ex, ",") + "]::text[]"
	}
	return fingerprintSettings + `SELECT c.relname, (xpath('/row/n/text()', x))[1]::text, coalesce((xpath('/row/m/text()', x))[1]::text, md5(''))
FROM pg_class c
JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = 'public'
CROSS JOIN LATERAL (SELECT coalesce((
    SELECT string_agg(format('t.%I', a.attname) || CASE WHEN a.attcollation <> 0 THEN ' COLLATE "C"' ELSE '' END,
                      ', ' ORDER BY array_position(i.indkey::int2[], a.attnum))
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indrelid = c.oid AND i.indisprimary), 't::text COLLATE "C"') AS keys) k
CROSS JOIN LATERAL (SELECT query_to_xml(format(
    'SELECT count(*) AS n, md5(string_agg(md5(t::text), '''' ORDER BY %s)) AS m FROM public.%I t',
    k.keys, c.relname), false, true, '') AS x) q
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND NOT c.relname = ANY (` + excluded + `)
ORDER BY c.relname`
}

// Fingerprints runs FingerprintSQL in the pod with psql and reads the result, sorted
// by table name.
func Fingerprints(ctx context.Context, ex Execer, db DB) ([]Fingerprint, error) {
	var out bytes.Buffer
	stderr := newTail(4096)
	if err := ex.Exec(ctx, track(ex, PsqlArgv(db, FingerprintSQL(db.ExcludeTables)), "fingerprints"), nil, &out, stderr); err != nil {
		return nil, inPod(report.PodCommand{Of: report.CommandFingerprint, Database: db.Name}, err, stderr)
	}
	var fps []Fingerprint
	for _, line := range strings.Split(out.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line == "SET" { // psql prints the SETs' command tags
			continue
		}
		parts := strings.Split(line, "|")
		if len(parts) != 3 {
			return nil, report.Fail(report.UnexpectedAnswer{Of: report.AnswerFingerprint, Said: line, Database: db.Name}, nil)
		}
		n, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || len(parts[2]) != 32 {
			return nil, report.Fail(report.UnexpectedAnswer{Of: report.AnswerFingerprint, Said: line, Database: db.Name}, nil)
		}
		fps = append(fps, Fingerprint{Table: parts[0], Rows: n, MD5: parts[2]})
	}
	sort.Slice(fps, func(i, j int) bool { return fps[i].Table < fps[j].Table })
	return fps, nil
}

// CompareFingerprints lists the tables that differ (missing on either side, another
// row count, other content), sorted by name; empty means identical.
func CompareFingerprints(origin, dest []Fingerprint) []FingerprintDiff {
	a, b := map[string]*Fingerprint{}, map[string]*Fingerprint{}
	names := map[string]bool{}
	for i := range origin {
		a[origin[i].Table] = &origin[i]
		names[origin[i].Table] = true
	}
	for i := range dest {
		b[dest[i].Table] = &dest[i]
		names[dest[i].Table] = true
	}
	var out []FingerprintDiff
	for n := range names {
		x, y := a[n], b[n]
		if x == nil || y == nil || x.Rows != y.Rows || x.MD5 != y.MD5 {
			out = append(out, FingerprintDiff{Table: n, Origin: x, Dest: y})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Table < out[j].Table })
	return out
}
