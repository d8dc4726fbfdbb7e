package github

import (
	"bytes"
	"strings"
	"testing"
)

const (
	fuzzFrom = "kubernetes-lb-prod-sn10.nycmesh.net"
	fuzzTo   = "kubernetes-lb-prod-sn3.nycmesh.net"
)

// FuzzEditDNSAnswer: never a panic, and a success changes exactly one line, where the
// origin's name (in any case) became the destination's; switching back restores it.
func FuzzEditDNSAnswer(f *testing.F) {
	f.Add("resource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\n  domain_name = \"nycmesh.net\"\n  host        = \"db\"\n  record_type = \"CNAME\"\n  answer      = \"kubernetes-lb-prod-sn10.nycmesh.net\"\n}\n", "meshdb_prod_meshdb", false)
	f.Add("# x\nresource namedotcom_record a {\n answer = \"KUBERNETES-lb-prod-sn10.nycmesh.net.\" // c\n nested { answer = \"q\" }\n}\nresource \"namedotcom_record\" \"b\" { answer = \"x\" }", "a", false)
	f.Add("resource \"namedotcom_record\" \"a\" {\n  x = \"${\"}\"}\"\n  answer = \"kubernetes-lb-prod-sn3.nycmesh.net\"\n}\n/* resource \"namedotcom_record\" \"a\" { */", "a", true)
	f.Add("resource \"namedotcom_record\" \"a\" {\n  x = <<EOT\n}\nEOT\n  answer = \"kubernetes-lb-prod-sn10.nycmesh.net\"\n}\n", "a", false)
	f.Fuzz(func(t *testing.T, src, resource string, back bool) {
		from, to := fuzzFrom, fuzzTo
		if back {
			from, to = to, from
		}
		out, err := EditDNSAnswer([]byte(src), resource, from, to)
		if err != nil {
			if out != nil {
				t.Fatalf("output with an error")
			}
			return
		}
		in, got := strings.SplitAfter(src, "\n"), strings.SplitAfter(string(out), "\n")
		if len(in) != len(got) {
			t.Fatalf("line count changed: %q -> %q", src, out)
		}
		changed := -1
		for i := range in {
			if in[i] != got[i] {
				if changed >= 0 {
					t.Fatalf("lines %d and %d both changed", changed, i)
				}
				changed = i
			}
		}
		if changed < 0 {
			t.Fatalf("nothing changed")
		}
		line, want := in[changed], got[changed]
		found, exact := false, false
		for k := 0; k+len(from) <= len(line); k++ {
			if strings.EqualFold(line[k:k+len(from)], from) && line[:k]+to+line[k+len(from):] == want {
				found, exact = true, line[k:k+len(from)] == from
			}
		}
		if !found {
			t.Fatalf("line %q became %q: not just %s -> %s", line, want, from, to)
		}
		if exact {
			again, err := EditDNSAnswer(out, resource, to, from)
			if err != nil || !bytes.Equal(again, []byte(src)) {
				t.Fatalf("switching back did not restore the file: %v", err)
			}
		}
	})
}

// FuzzEditFQDNList: never a panic, and a success touches only the inside of the
// list, leaves exactly the expected names in order, and keeps its comment lines.
func FuzzEditFQDNList(f *testing.F) {
	const host, ph = "db.nycmesh.net", "sn10temp.nycmesh.net"
	f.Add("cluster = \"prod1\"\nmeshdb_fqdn = [\n  \"sn10temp.nycmesh.net\",\n]\n", true)
	f.Add("meshdb_fqdn = [\n  # c\n  \"db.nycmesh.net\", # moved\n  \"b\"\n]\n", false)
	f.Add("meshdb_fqdn = [\"db.nycmesh.net\"]", false)
	f.Add("meshdb_fqdn = [ \"a\", \"b\", ]", true)
	f.Add("meshdb_fqdn = []\r\n", true)
	f.Add("meshdb_fqdn = [\"a\",\n  \"db.nycmesh.net\"]\n", false)
	f.Add("meshdb_fqdn = [\n\t\"a\" /* x */,\n\t\"db.nycmesh.net\" // y\n]", false)
	f.Fuzz(func(t *testing.T, src string, add bool) {
		out, err := EditFQDNList([]byte(src), "meshdb_fqdn", host, ph, add)
		if err != nil {
			if out != nil {
				t.Fatalf("output with an error")
			}
			return
		}
		lin, err := findList([]byte(src), "meshdb_fqdn")
		if err != nil {
			t.Fatalf("the edit succeeded on a list that does not parse: %v", err)
		}
		lout, err := findList(out, "meshdb_fqdn")
		if err != nil {
			t.Fatalf("the result does not parse: %v\n%q", err, out)
		}
		if !bytes.Equal(out[:lin.open+1], []byte(src[:lin.open+1])) || !bytes.Equal(out[lout.close:], []byte(src[lin.close:])) {
			t.Fatalf("bytes outside the list changed: %q -> %q", src, out)
		}
		var want []string
		for _, it := range lin.items {
			switch {
			case normHost(it.value) == host:
			case add && normHost(it.value) == ph:
			default:
				want = append(want, it.value)
			}
		}
		if add {
			want = append(want, host)
		}
		if len(want) == 0 {
			want = []string{ph}
		}
		var got []string
		for _, it := range lout.items {
			got = append(got, it.value)
		}
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("names %q, want %q (from %q to %q)", got, want, src, out)
		}
		rest := string(out[lout.open:lout.close])
		for _, line := range strings.Split(src[lin.open:lin.close], "\n") {
			if trimmed := strings.TrimSpace(line); strings.HasPrefix(trimmed, "#") && !strings.Contains(line, "\"") && !strings.Contains(rest, trimmed) {
				t.Fatalf("comment line %q was lost: %q", line, out)
			}
		}
	})
}
