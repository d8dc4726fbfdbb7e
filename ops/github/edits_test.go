package github_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nycmeshnet/cutoverbot/ops/github"
)

// records has the shape of sld/records.nycmesh.net.tf: several namedotcom_record
// blocks with aligned `=`, comments, and things that must not be taken for the block.
const records = `# DNS records for nycmesh.net, applied on merge to main.
resource "namedotcom_record" "meshdb_dev" {
  domain_name = "nycmesh.net"
  host        = "devdb"
  record_type = "CNAME"
  answer      = "kubernetes-lb-prod-sn10.nycmesh.net"
}

# The old record, kept for history:
# resource "namedotcom_record" "meshdb_prod_meshdb" {
#   answer = "kubernetes-lb-prod-sn10.nycmesh.net"
# }

resource "namedotcom_record" "meshdb_prod_meshdb" {
  domain_name = "nycmesh.net"
  host        = "db"   # db.nycmesh.net { is the service }
  record_type = "CNAME"
  answer      = "kubernetes-lb-prod-sn10.nycmesh.net"
}

resource "namedotcom_record" "meshdb_prod_meshdb_www" {
  domain_name = "nycmesh.net"
  host        = "www.db"
  record_type = "CNAME"
  answer      = "kubernetes-lb-prod-sn10.nycmesh.net"
}
`

const sn3, sn10 = "kubernetes-lb-prod-sn3.nycmesh.net", "kubernetes-lb-prod-sn10.nycmesh.net"

// switched is records with only the meshdb_prod_meshdb answer pointing at sn3.
var switched = strings.Replace(records, "host        = \"db\"   # db.nycmesh.net { is the service }\n  record_type = \"CNAME\"\n  answer      = \"kubernetes-lb-prod-sn10",
	"host        = \"db\"   # db.nycmesh.net { is the service }\n  record_type = \"CNAME\"\n  answer      = \"kubernetes-lb-prod-sn3", 1)

func TestEditDNSAnswerChangesOnlyThatLine(t *testing.T) {
	require.NotEqual(t, records, switched, "the fixture replacement must apply")
	out, err := github.EditDNSAnswer([]byte(records), "meshdb_prod_meshdb", sn10, sn3)
	require.NoError(t, err)
	assert.Equal(t, switched, string(out), "only that block's answer changes, alignment and comments kept")

	back, err := github.EditDNSAnswer(out, "meshdb_prod_meshdb", sn3, sn10)
	require.NoError(t, err)
	assert.Equal(t, records, string(back), "switching back restores the file byte for byte")
}

func TestEditDNSAnswerShapes(t *testing.T) {
	for _, tc := range []struct{ name, src, from, to, want string }{
		{"unquoted labels", "resource namedotcom_record meshdb_prod_meshdb {\n\tanswer = \"a.example\"\n}\n", "a.example", "b.example",
			"resource namedotcom_record meshdb_prod_meshdb {\n\tanswer = \"b.example\"\n}\n"},
		{"trailing dot kept", "resource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\n  answer = \"a.example.\" # fqdn\n}\n", "a.example", "b.example",
			"resource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\n  answer = \"b.example.\" # fqdn\n}\n"},
		{"case-insensitive match", "resource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\r\n  answer = \"A.Example\"\r\n}\r\n", "a.example", "b.example",
			"resource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\r\n  answer = \"b.example\"\r\n}\r\n"},
		{"heredoc elsewhere", "locals {\n  x = <<EOF\nresource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\nEOF\n}\nresource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\n  answer = \"a.example\"\n}\n", "a.example", "b.example",
			"locals {\n  x = <<EOF\nresource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\nEOF\n}\nresource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\n  answer = \"b.example\"\n}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := github.EditDNSAnswer([]byte(tc.src), "meshdb_prod_meshdb", tc.from, tc.to)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(out))
		})
	}
}

func TestEditDNSAnswerRefusals(t *testing.T) {
	block := "resource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\n  answer = \"" + sn10 + "\"\n}\n"
	for _, tc := range []struct{ name, src, resource, from, to, msg string }{
		{"resource not found", records, "nope", sn10, sn3, "namedotcom_record.nope is not in the file"},
		{"only commented out", "# " + strings.ReplaceAll(block, "\n", "\n# "), "meshdb_prod_meshdb", sn10, sn3, "is not in the file"},
		{"found twice", records + block, "meshdb_prod_meshdb", sn10, sn3, "in the file 2 times"},
		{"already switched", switched, "meshdb_prod_meshdb", sn10, sn3, "already \"" + sn3 + "\": DNS may have been switched already"},
		{"neither", records, "meshdb_prod_meshdb", "elsewhere.example", sn3, "neither the origin's"},
		{"no answer line", "resource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\n  host = \"db\"\n  # answer = \"x\"\n}\n", "meshdb_prod_meshdb", sn10, sn3, "no answer"},
		{"answer not a string", "resource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\n  answer = var.lb\n}\n", "meshdb_prod_meshdb", sn10, sn3, "no answer"},
		{"two answers", "resource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\n  answer = \"" + sn10 + "\"\n  answer = \"" + sn10 + "\"\n}\n", "meshdb_prod_meshdb", sn10, sn3, "2 answer lines"},
		{"unclosed block", "resource \"namedotcom_record\" \"meshdb_prod_meshdb\" {\n  answer = \"" + sn10 + "\"\n", "meshdb_prod_meshdb", sn10, sn3, "no closing brace"},
		{"same both ways", records, "meshdb_prod_meshdb", sn10, sn10 + ".", "same lb_hostname"},
		{"quote in name", records, "meshdb_prod_meshdb", sn10, `x"y`, "cannot go into the file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := github.EditDNSAnswer([]byte(tc.src), tc.resource, tc.from, tc.to)
			assert.ErrorContains(t, err, tc.msg)
			assert.Nil(t, out)
		})
	}
}

func TestEditFQDNListShapes(t *testing.T) {
	const host, ph = "db.nycmesh.net", "sn10temp.nycmesh.net"
	for _, tc := range []struct {
		name, src string
		add       bool
		want      string
	}{
		{"placeholder makes way", "cluster = \"prod1\"\nmeshdb_fqdn = [\n  \"sn10temp.nycmesh.net\",\n]\nother = 1\n", true,
			"cluster = \"prod1\"\nmeshdb_fqdn = [\n  \"db.nycmesh.net\",\n]\nother = 1\n"},
		{"appended after others, comments kept", "meshdb_fqdn = [\n    # the map\n    \"map.nycmesh.net\", # since 2023\n    \"wiki.nycmesh.net\",\n]\n", true,
			"meshdb_fqdn = [\n    # the map\n    \"map.nycmesh.net\", # since 2023\n    \"wiki.nycmesh.net\",\n    \"db.nycmesh.net\",\n]\n"},
		{"removed with its comment", "meshdb_fqdn = [\n  \"db.nycmesh.net\", # moved here\n  \"devdb.nycmesh.net\",\n]\n", false,
			"meshdb_fqdn = [\n  \"devdb.nycmesh.net\",\n]\n"},
		{"last one out brings the placeholder", "meshdb_fqdn = [\n\t\"db.nycmesh.net\",\n]\nx = [\"y\"]\n", false,
			"meshdb_fqdn = [\n\t\"sn10temp.nycmesh.net\",\n]\nx = [\"y\"]\n"},
		{"no trailing commas", "meshdb_fqdn = [\n  \"a.nycmesh.net\",\n  \"b.nycmesh.net\"\n]\n", true,
			"meshdb_fqdn = [\n  \"a.nycmesh.net\",\n  \"b.nycmesh.net\",\n  \"db.nycmesh.net\"\n]\n"},
		{"CRLF", "meshdb_fqdn = [\r\n  \"a.nycmesh.net\",\r\n]\r\n", true,
			"meshdb_fqdn = [\r\n  \"a.nycmesh.net\",\r\n  \"db.nycmesh.net\",\r\n]\r\n"},
		{"single line remove", "meshdb_fqdn = [\"db.nycmesh.net\"]\n", false, "meshdb_fqdn = [\"sn10temp.nycmesh.net\"]\n"},
		{"single line spaced remove", "meshdb_fqdn = [ \"db.nycmesh.net\" ]\n", false, "meshdb_fqdn = [ \"sn10temp.nycmesh.net\" ]\n"},
		{"single line remove first", "meshdb_fqdn = [\"db.nycmesh.net\", \"b.nycmesh.net\"]\n", false, "meshdb_fqdn = [\"b.nycmesh.net\"]\n"},
		{"single line remove last", "meshdb_fqdn = [\"b.nycmesh.net\", \"db.nycmesh.net\"]\n", false, "meshdb_fqdn = [\"b.nycmesh.net\"]\n"},
		{"single line add", "meshdb_fqdn = [ \"a.nycmesh.net\", \"b.nycmesh.net\" ]\n", true, "meshdb_fqdn = [ \"a.nycmesh.net\", \"b.nycmesh.net\", \"db.nycmesh.net\" ]\n"},
		{"single line trailing comma", "meshdb_fqdn = [\"a.nycmesh.net\",]\n", true, "meshdb_fqdn = [\"a.nycmesh.net\", \"db.nycmesh.net\",]\n"},
		{"single line placeholder replaced", "meshdb_fqdn = [\"sn10temp.nycmesh.net\"] # keep one\n", true, "meshdb_fqdn = [\"db.nycmesh.net\"] # keep one\n"},
		{"empty list", "meshdb_fqdn = []\n", true, "meshdb_fqdn = [\"db.nycmesh.net\"]\n"},
		{"brackets and quotes in comments", "meshdb_fqdn = [\n  # not \"db.nycmesh.net\" ] yet\n  \"a.nycmesh.net\",\n]\n", true,
			"meshdb_fqdn = [\n  # not \"db.nycmesh.net\" ] yet\n  \"a.nycmesh.net\",\n  \"db.nycmesh.net\",\n]\n"},
		{"commented-out variable ignored", "# meshdb_fqdn = [\"db.nycmesh.net\"]\nmeshdb_fqdn = [\n  \"a.nycmesh.net\",\n]\n", true,
			"# meshdb_fqdn = [\"db.nycmesh.net\"]\nmeshdb_fqdn = [\n  \"a.nycmesh.net\",\n  \"db.nycmesh.net\",\n]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := github.EditFQDNList([]byte(tc.src), "meshdb_fqdn", host, ph, tc.add)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(out))
		})
	}
}

func TestEditFQDNListRefusals(t *testing.T) {
	const host, ph = "db.nycmesh.net", "sn10temp.nycmesh.net"
	prod2 := "meshdb_fqdn = [\n  \"db.nycmesh.net\",\n]\n"
	for _, tc := range []struct {
		name, src, placeholder string
		add                    bool
		msg                    string
	}{
		{"already there", prod2, ph, true, "already in meshdb_fqdn"},
		{"already there, other case", "meshdb_fqdn = [\"DB.nycmesh.net.\"]", ph, true, "already in"},
		{"absent", "meshdb_fqdn = [\"a.example\"]", ph, false, "is not in meshdb_fqdn"},
		{"variable missing", "x = 1\n", ph, true, "variable meshdb_fqdn is not in the file"},
		{"variable twice", prod2 + prod2, ph, false, "in the file 2 times"},
		{"not plain strings", "meshdb_fqdn = concat(var.x, [\"a\"])\n", ph, true, "is not in the file"},
		{"expression element", "meshdb_fqdn = [var.name, \"db.nycmesh.net\"]\n", ph, false, "something other than quoted names"},
		{"missing comma", "meshdb_fqdn = [\"a\" \"b\"]\n", ph, true, "lacks a comma"},
		{"unclosed", "meshdb_fqdn = [\"a\",\n", ph, true, "no closing ]"},
		{"placeholder is the host", prod2, host, false, "the placeholder \"db.nycmesh.net\" is the service host"},
		{"no placeholder", prod2, "", false, "needs a placeholder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := github.EditFQDNList([]byte(tc.src), "meshdb_fqdn", host, tc.placeholder, tc.add)
			assert.ErrorContains(t, err, tc.msg)
			assert.Nil(t, out)
		})
	}
}
