package handlers_test

import (
	"strings"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// snapshotFailureCases are ops/snapshot's failures, each as the snapshot step and
// ops/snapshot's Report.Summary wrote it before it was data.
func snapshotFailureCases() map[string][]failureCase {
	differs := func(summary ...string) string {
		return "the post snapshot differs from the prior one:\n" + strings.Join(summary, "\n") + "\nIf that is expected, Skip with the reason"
	}
	return map[string][]failureCase{
		"failed_snapshot_differs": {
			{report.SnapshotDiffers{Endpoints: []report.DiffEndpoint{
				{Name: "nodes", Before: 20114, After: 20115, Added: 1, Changed: 2, Items: []report.DiffItem{
					{How: report.DiffChanged, Key: "1234", Fields: []report.DiffField{{Field: "status", Old: `"Active"`, New: `"Inactive"`}}},
					{How: report.DiffChanged, Key: "5678", Fields: []report.DiffField{{Field: "name", Old: `"Grand"`, New: `"Grand St"`}, {Field: "notes", Old: "null", New: `"<b>roof</b> & mast"`}}},
					{How: report.DiffAdded, Key: "20115"}}},
				{Name: "links", Before: 9812, After: 9812},
				{Name: "sectors", Before: 3120, After: 3119, Removed: 1, Items: []report.DiffItem{{How: report.DiffRemoved, Key: "1932|90"}}},
			}}, "", differs(
				"nodes: 20114 before, 20115 after, 1 added, 0 removed, 2 changed",
				`• nodes 1234: status "Active" → "Inactive"`,
				`• nodes 5678: name "Grand" → "Grand St", notes null → "<b>roof</b> & mast"`,
				"• nodes 20115: added",
				"links: 9812 before, 9812 after, 0 added, 0 removed, 0 changed",
				"sectors: 3120 before, 3119 after, 0 added, 1 removed, 0 changed",
				"• sectors 1932|90: removed")},
			{report.SnapshotDiffers{Endpoints: []report.DiffEndpoint{
				{Name: "links", Before: 5, After: 4, Removed: 1, Changed: 1, Repeated: 1, Items: []report.DiffItem{
					{How: report.DiffChanged, Key: "1|2", Repeat: &report.KeyRepeat{Before: 2, After: 2}, Fields: []report.DiffField{{Field: "status", Old: `"Active"`, New: `"Inactive"`}}},
					{How: report.DiffRemoved, Key: "1|2", Repeat: &report.KeyRepeat{Before: 2, After: 2}, Entry: `{"from":1,"to":2,"status":"Planned"}`}}},
				{Name: "sectors", Before: 26, After: 26, Repeated: 3},
				{Name: "map", Before: 7, Missing: true},
			}}, "", differs(
				"links: 5 before, 4 after, 0 added, 1 removed, 1 changed; 1 key held by more than one entry, compared as multisets",
				`• links 1|2 (2 entries before, 2 after): status "Active" → "Inactive"`,
				`• links 1|2 (2 entries before, 2 after) {"from":1,"to":2,"status":"Planned"}: removed`,
				"sectors: 26 before, 26 after, 0 added, 0 removed, 0 changed; 3 keys held by more than one entry, compared as multisets",
				"map: 7 before, missing from the post snapshot")},
		},
	}
}
