package kube

import (
	"context"
	"encoding/json"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// ReplicasAnnotation records, on a workload the bot scales, the replica count it had
// before a run scaled it: "<run>=<count>". A bot that lost its state finds it there.
const ReplicasAnnotation = "cutoverbot.nycmesh.net/replicas-before"

// Annotation reads one annotation of a workload ("" when it has none).
func (c *Cluster) Annotation(ctx context.Context, kind Workload, name, key string) (string, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	var m metav1.ObjectMeta
	switch kind {
	case StatefulSet:
		s, err := c.client.AppsV1().StatefulSets(c.namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", c.workloadErr(kind, name, err)
		}
		m = s.ObjectMeta
	case Deployment:
		d, err := c.client.AppsV1().Deployments(c.namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", c.workloadErr(kind, name, err)
		}
		m = d.ObjectMeta
	default:
		return "", c.unknownWorkload(kind, name)
	}
	return m.Annotations[key], nil
}

// Annotate sets one annotation of a workload with a merge patch of its metadata only.
func (c *Cluster) Annotate(ctx context.Context, kind Workload, name, key, value string) error {
	ctx, cancel := c.call(ctx)
	defer cancel()
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
	if err != nil {
		return err
	}
	switch kind {
	case StatefulSet:
		_, err = c.client.AppsV1().StatefulSets(c.namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	case Deployment:
		_, err = c.client.AppsV1().Deployments(c.namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	default:
		return c.unknownWorkload(kind, name)
	}
	if err != nil {
		return report.Fail(report.WorkloadCall{Of: report.WorkloadAnnotate, Cluster: c.name, Namespace: c.namespace, Kind: string(kind), Name: name}, c.workloadErr(kind, name, err))
	}
	return nil
}

func (c *Cluster) workloadErr(kind Workload, name string, err error) error {
	if apierrors.IsNotFound(err) {
		return c.notFound(kind, name)
	}
	return explain(err)
}
