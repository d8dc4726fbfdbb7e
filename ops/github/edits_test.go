package github_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/github"
)

const records = `# DNS records for nycmesh.net
resource "namedotcom_record" "meshdb_prod_meshdb" {
  domain_name = "nycmesh.net"
  host        = "db"
  record_type = "CNAME"
  answer      = "kubernetes-lb-prod-sn10.nycmesh.net"
}

resource "namedotcom_record" "meshdb_dev" {
  domain_name = "nycmesh.net"
  host        = "devdb"
  record_type = "CNAME"
  answer      = "kubernetes-lb-prod-sn10.nycmesh.net"
}
`

const sn3, sn10 = "kubernetes-lb-prod-sn3.nycmesh.net", "kubernetes-lb-prod-sn10.nycmesh.net"

func TestEditDNSAnswerChangesOneLine(t *testing.T) {
	out, err := github.EditDNSAnswer([]byte(records), "meshdb_prod_meshdb", sn10, sn3)
	require.NoError(t, err)
	want := strings.Replace(records, `answer      = "kubernetes-lb-prod-sn10.nycmesh.net"
}

resource "namedotcom_record" "meshdb_dev"`, `answer      = "kubernetes-lb-prod-sn3.nycmesh.net"
}

resource "namedotcom_record" "meshdb_dev"`, 1)
	assert.Equal(t, want, string(out), "only that block's answer changes, alignment kept")

	for _, tc := range []struct{ src, resource, from, to, msg string }{
		{records, "nope", sn10, sn3, "is not in the file"},
		{records + records, "meshdb_prod_meshdb", sn10, sn3, "in the file 2 times"},
		{string(out), "meshdb_prod_meshdb", sn10, sn3, "already"},
		{records, "meshdb_prod_meshdb", "elsewhere.example", sn3, "neither"},
		{`resource "namedotcom_record" "meshdb_prod_meshdb" { host = "db" }`, "meshdb_prod_meshdb", sn10, sn3, "no answer"},
	} {
		_, err := github.EditDNSAnswer([]byte(tc.src), tc.resource, tc.from, tc.to)
		assert.ErrorContains(t, err, tc.msg)
	}
}

func TestEditFQDNList(t *testing.T) {
	prod1 := "cluster = \"prod1\"\nmeshdb_fqdn = [\n  \"sn10temp.nycmesh.net\",\n]\nother = 1\n"
	prod2 := "meshdb_fqdn = [\n  \"db.nycmesh.net\",\n  \"devdb.nycmesh.net\",\n]\n"
	out, err := github.EditFQDNList([]byte(prod1), "meshdb_fqdn", "db.nycmesh.net", "sn10temp.nycmesh.net", true)
	require.NoError(t, err)
	assert.Equal(t, "cluster = \"prod1\"\nmeshdb_fqdn = [\n  \"db.nycmesh.net\",\n]\nother = 1\n", string(out), "the placeholder makes way")
	out, err = github.EditFQDNList([]byte(prod2), "meshdb_fqdn", "db.nycmesh.net", "sn10temp.nycmesh.net", false)
	require.NoError(t, err)
	assert.Equal(t, "meshdb_fqdn = [\n  \"devdb.nycmesh.net\",\n]\n", string(out))
	only := "meshdb_fqdn = [\"db.nycmesh.net\"]\n"
	out, err = github.EditFQDNList([]byte(only), "meshdb_fqdn", "db.nycmesh.net", "sn10temp.nycmesh.net", false)
	require.NoError(t, err)
	assert.Equal(t, "meshdb_fqdn = [\"sn10temp.nycmesh.net\"]\n", string(out), "never empty: the placeholder comes in")
	_, err = github.EditFQDNList([]byte(prod2), "meshdb_fqdn", "db.nycmesh.net", "x", true)
	assert.ErrorContains(t, err, "already in")
	_, err = github.EditFQDNList([]byte(prod1), "meshdb_fqdn", "db.nycmesh.net", "x", false)
	assert.ErrorContains(t, err, "is not in")
	_, err = github.EditFQDNList([]byte("x = 1\n"), "meshdb_fqdn", "db.nycmesh.net", "x", true)
	assert.ErrorContains(t, err, "not in the file")
	_, err = github.EditFQDNList([]byte(prod1+prod2), "meshdb_fqdn", "db.nycmesh.net", "x", true)
	assert.ErrorContains(t, err, "2 times")
}

func FuzzEditDNSAnswer(f *testing.F) {
	f.Add(records, "meshdb_prod_meshdb")
	f.Add(`resource "namedotcom_record" "a" { answer = "x" }`, "a")
	f.Fuzz(func(t *testing.T, src, resource string) {
		out, err := github.EditDNSAnswer([]byte(src), resource, sn10, sn3)
		if err != nil {
			return
		}
		if len(out) != len(src)-len(sn10)+len(sn3) {
			t.Fatalf("more than the answer changed")
		}
		if !strings.Contains(string(out), sn3) {
			t.Fatalf("the new answer is missing")
		}
	})
}

func FuzzEditFQDNList(f *testing.F) {
	f.Add("meshdb_fqdn = [\n  \"a\",\n]\n", true)
	f.Add("meshdb_fqdn = [\"db.nycmesh.net\"]", false)
	f.Fuzz(func(t *testing.T, src string, add bool) {
		out, err := github.EditFQDNList([]byte(src), "meshdb_fqdn", "db.nycmesh.net", "sn10temp.nycmesh.net", add)
		if err != nil {
			return
		}
		if add != strings.Contains(string(out), `"db.nycmesh.net"`) {
			t.Fatalf("add=%v but the result is %q", add, out)
		}
		if !strings.Contains(string(out), "meshdb_fqdn") {
			t.Fatalf("the variable vanished")
		}
	})
}
