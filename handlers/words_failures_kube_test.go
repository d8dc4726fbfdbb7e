package handlers_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/nycmeshnet/cutoverbot/handlers"
	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// kubeFailureCases are ops/kube's failures, each with the format ops/kube wrote before
// its failures were data.
func kubeFailureCases() map[string][]failureCase {
	const (
		where  = "prod1/meshdb"
		apiErr = `statefulsets.apps "celery" is forbidden: User "system:serviceaccount:meshdb:cutoverbot" cannot get resource "statefulsets"`
	)
	return map[string][]failureCase{
		"failed_connect": {
			{report.Connect{Cluster: "prod1", How: report.ConnectNotInPod}, "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined",
				fmt.Sprintf("cluster %s: no kubeconfig given and not running in a pod: %v", "prod1", "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined")},
			{report.Connect{Cluster: "prod1", How: report.ConnectNamespaceFile, Path: "/var/run/secrets/kubernetes.io/serviceaccount/namespace"}, "no such file or directory",
				fmt.Sprintf("cluster %s: namespace not configured and %s unreadable: %v", "prod1", "/var/run/secrets/kubernetes.io/serviceaccount/namespace", "no such file or directory")},
			{report.Connect{Cluster: "prod1", How: report.ConnectKubeconfig, Kubeconfig: "/etc/cutoverbot/kubeconfig", Context: "nycmesh-sn10"}, `context "nycmesh-sn10" does not exist`,
				fmt.Sprintf("cluster %s: load kubeconfig %s context %q: %v", "prod1", "/etc/cutoverbot/kubeconfig", "nycmesh-sn10", `context "nycmesh-sn10" does not exist`)},
			{report.Connect{Cluster: "prod1", How: report.ConnectNamespace, Kubeconfig: "/etc/cutoverbot/kubeconfig", Context: "nycmesh-sn10"}, "invalid configuration",
				fmt.Sprintf("cluster %s: namespace of context %q: %v", "prod1", "nycmesh-sn10", "invalid configuration")},
			{report.Connect{Cluster: "state", How: report.ConnectClient}, "host must be a URL or a host:port pair",
				fmt.Sprintf("cluster %s: build client: %v", "state", "host must be a URL or a host:port pair")},
		},
		"failed_no_pod": {
			{report.NoPod{Cluster: "prod1", Namespace: "meshdb", Selector: "app=meshdb-postgres-app", Container: "postgres"}, "",
				fmt.Sprintf("no ready pod %s with container %s in %s/%s", "app=meshdb-postgres-app", "postgres", "prod1", "meshdb")},
			{report.NoPod{Cluster: "prod1", Namespace: "meshdb", Selector: "app=meshdb-postgres-app", Container: "postgres", Matched: 2}, "",
				fmt.Sprintf("no ready pod %s with container %s in %s/%s", "app=meshdb-postgres-app", "postgres", "prod1", "meshdb") +
					fmt.Sprintf(" (%d pods match the selector, none is Running and Ready with that container)", 2)},
		},
		"failed_exit_code": {
			{report.ExitCode{Cluster: "prod1", Namespace: "meshdb", Pod: "pg-0", Container: "postgres", Command: `pg_dump -Fc "mesh db"`, Code: 3, Stderr: "...pg_dump: error: connection refused"}, "",
				fmt.Sprintf("%s/%s pod %s container %s: command %s exited with code %d", "prod1", "meshdb", "pg-0", "postgres", `pg_dump -Fc "mesh db"`, 3) + ": " + "...pg_dump: error: connection refused"},
			{report.ExitCode{Cluster: "prod1", Namespace: "meshdb", Pod: "pg-0", Container: "postgres", Command: "true", Code: 1}, "",
				fmt.Sprintf("%s/%s pod %s container %s: command %s exited with code %d", "prod1", "meshdb", "pg-0", "postgres", "true", 1)},
		},
		"failed_exec": {
			{report.ExecFailed{Cluster: "prod1", Namespace: "meshdb", Pod: "pg-0", Container: "postgres", Command: "pg_dump"}, "unexpected EOF",
				fmt.Sprintf("%s: %s", fmt.Sprintf("%s pod %s container %s: exec %s", where, "pg-0", "postgres", "pg_dump"), "unexpected EOF")},
			{report.ExecFailed{Cluster: "prod1", Namespace: "meshdb", Pod: "pg-0", Container: "postgres", Command: "pg_dump", Stderr: "pg_dump: dumping contents"}, "unexpected EOF",
				fmt.Sprintf("%s: %s (stderr: %s)", fmt.Sprintf("%s pod %s container %s: exec %s", where, "pg-0", "postgres", "pg_dump"), "unexpected EOF", "pg_dump: dumping contents")},
			{report.ExecFailed{Cluster: "prod1", Namespace: "meshdb", Pod: "pg-0", Container: "postgres", Empty: true}, "",
				fmt.Sprintf("%s: empty command", fmt.Sprintf("%s pod %s container %s: exec %s", where, "pg-0", "postgres", ""))},
		},
		"failed_no_exit_status": {{report.NoExitStatus{}, "", "the exec stream ended without an exit status (connection lost?); output may be truncated"}},
		"failed_api_refused": {
			{report.APIRefused{Code: 401}, "Unauthorized", fmt.Sprintf("401 Unauthorized, the API server refused the token: check the kubeconfig user or service account: %s", "Unauthorized")},
			{report.APIRefused{Code: 403}, apiErr, fmt.Sprintf("403 Forbidden, the service account lacks a permission (see its Role): %s", apiErr)},
		},
		"failed_list_pods": {{report.ListPods{Cluster: "prod1", Namespace: "meshdb", Selector: "app=pg"}, "connection refused",
			fmt.Sprintf("%s: list pods %s: %s", where, "app=pg", "connection refused")}},
		"failed_no_image_id": {{report.NoImageID{Cluster: "prod1", Namespace: "meshdb", Pod: "pg-0", Container: "postgres"}, "",
			fmt.Sprintf("%s: pod %s container %s reports no image ID yet", where, "pg-0", "postgres")}},
		"failed_unknown_workload": {
			{report.UnknownWorkload{Cluster: "prod1", Namespace: "meshdb", Kind: "daemonset", Name: "x"}, "",
				fmt.Sprintf("%s: unknown workload kind %q for %s (want statefulset or deployment)", where, "daemonset", "x")},
			{report.UnknownWorkload{Kind: "daemonset"}, "", fmt.Sprintf("unknown workload kind %q (want statefulset or deployment)", "daemonset")},
		},
		"failed_workload_not_found": {{report.WorkloadNotFound{Cluster: "prod1", Namespace: "meshdb", Kind: "deployment", Name: "meshweb"}, "",
			fmt.Sprintf("%s %s %s in %s", "deployment", "meshweb", "not found", where)}},
		"failed_workload_call": {
			{report.WorkloadCall{Of: report.WorkloadGet, Cluster: "prod1", Namespace: "meshdb", Kind: "statefulset", Name: "celery"}, apiErr,
				fmt.Sprintf("%s: get %s %s: %s", where, "statefulset", "celery", apiErr)},
			{report.WorkloadCall{Of: report.WorkloadAnnotate, Cluster: "prod1", Namespace: "meshdb", Kind: "statefulset", Name: "celery"}, apiErr,
				fmt.Sprintf("%s: annotate %s %s: %s", where, "statefulset", "celery", apiErr)},
		},
		"failed_scale": {
			{report.ScaleFailed{How: report.ScaleNegative, Cluster: "prod1", Namespace: "meshdb", Kind: "statefulset", Name: "celery", Replicas: -1}, "",
				fmt.Sprintf("%s: scale %s %s to %d: replicas must not be negative", where, "statefulset", "celery", -1)},
			{report.ScaleFailed{How: report.ScaleConflicting, Cluster: "prod1", Namespace: "meshdb", Kind: "statefulset", Name: "celery", Replicas: 0, Attempts: 5}, "the object has been modified",
				fmt.Sprintf("%s: scale %s %s to %d: still conflicting after %d attempts: %s", where, "statefulset", "celery", 0, 5, "the object has been modified")},
			{report.ScaleFailed{How: report.ScaleCall, Cluster: "prod1", Namespace: "meshdb", Kind: "statefulset", Name: "celery", Replicas: 0}, apiErr,
				fmt.Sprintf("%s: scale %s %s to %d: %s", where, "statefulset", "celery", 0, apiErr)},
			{report.ScaleFailed{How: report.ScaleUnread, Cluster: "prod1", Namespace: "meshdb", Kind: "statefulset", Name: "celery", Previous: 1, Replicas: 0, LastErr: "connection refused"},
				"context deadline exceeded",
				fmt.Sprintf("%s: scaled %s %s %d -> %d, then could not read its status before the wait ended: %s (last error: %v)", where, "statefulset", "celery", 1, 0, "context deadline exceeded", "connection refused")},
			{report.ScaleFailed{How: report.ScaleStuck, Cluster: "prod1", Namespace: "meshdb", Kind: "statefulset", Name: "celery", Previous: 1, Replicas: 0, Status: 1, Timeout: 5 * time.Minute},
				"context deadline exceeded",
				fmt.Sprintf("%s: scaled %s %s %d -> %d, but status.replicas is still %d after %s: %s", where, "statefulset", "celery", 1, 0, 1, 5*time.Minute, "context deadline exceeded")},
		},
		"failed_access_review": {{report.AccessReview{Cluster: "prod1", Namespace: "meshdb", Access: "get apps/statefulsets"}, "connection refused",
			fmt.Sprintf("%s: ask whether it may %s: %s", where, "get apps/statefulsets", "connection refused")}},
		"failed_ping": {
			{report.Ping{Cluster: "prod1", Host: "https://10.0.0.1:6443", How: report.PingCall}, "connection refused",
				fmt.Sprintf("cluster %s (%s): %s", "prod1", "https://10.0.0.1:6443", "connection refused")},
			{report.Ping{Cluster: "prod1", Host: "https://10.0.0.1:6443", How: report.PingNotVersion}, "invalid character '<'",
				fmt.Sprintf("cluster %s (%s): /version answered with something that is not a Kubernetes version: %s", "prod1", "https://10.0.0.1:6443", "invalid character '<'")},
			{report.Ping{Cluster: "prod1", Host: "https://10.0.0.1:6443", How: report.PingNoVersion}, "",
				fmt.Sprintf("cluster %s (%s): /version answered without a version", "prod1", "https://10.0.0.1:6443")},
		},
	}
}

// A preflight check's message holds the failure of each cluster, joined with "; ":
// each is worded (the thread and the override modal show ErrText of the message).
func TestCheckMessagesWordEachFailure(t *testing.T) {
	prod1 := report.Fail(report.NoPod{Cluster: "prod1", Namespace: "meshdb", Selector: "app=pg", Container: "postgres", Matched: 1}, nil)
	prod2 := report.Fail(report.Ping{Cluster: "prod2", Host: "https://10.0.0.2:6443", How: report.PingCall}, report.Fail(report.APIRefused{Code: 401}, errors.New("Unauthorized")))
	assert.Equal(t, "no ready pod app=pg with container postgres in prod1/meshdb (1 pods match the selector, none is Running and Ready with that container); "+
		"cluster prod2 (https://10.0.0.2:6443): 401 Unauthorized, the API server refused the token: check the kubeconfig user or service account: Unauthorized",
		handlers.ErrText(prod1.Error()+"; "+prod2.Error()))
}
