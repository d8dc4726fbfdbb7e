package kube

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/nycmeshnet/cutoverbot/ops/report"
)

// Workload is a kind of replicated workload that can be scaled.
type Workload string

const (
	StatefulSet Workload = "statefulset"
	Deployment  Workload = "deployment"
)

// WorkloadExists returns nil if the workload exists, an error wrapping ErrNotFound if not.
func (c *Cluster) WorkloadExists(ctx context.Context, kind Workload, name string) error {
	_, _, err := c.Replicas(ctx, kind, name)
	return err
}

// Replicas returns the workload's spec.replicas and status.replicas.
func (c *Cluster) Replicas(ctx context.Context, kind Workload, name string) (spec, status int32, err error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	switch kind {
	case StatefulSet:
		s, gerr := c.client.AppsV1().StatefulSets(c.namespace).Get(ctx, name, metav1.GetOptions{})
		if gerr == nil {
			return deref(s.Spec.Replicas), s.Status.Replicas, nil
		}
		err = gerr
	case Deployment:
		d, gerr := c.client.AppsV1().Deployments(c.namespace).Get(ctx, name, metav1.GetOptions{})
		if gerr == nil {
			return deref(d.Spec.Replicas), d.Status.Replicas, nil
		}
		err = gerr
	default:
		return 0, 0, c.unknownWorkload(kind, name)
	}
	if apierrors.IsNotFound(err) {
		return 0, 0, c.notFound(kind, name)
	}
	return 0, 0, report.Fail(report.WorkloadCall{Of: report.WorkloadGet, Cluster: c.name, Namespace: c.namespace, Kind: string(kind), Name: name}, explain(err))
}

// deref reads spec.replicas, which the API defaults to 1 when unset.
func deref(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// ScaleProgress is the state of a scale: from Previous to Want spec.replicas, with
// status.replicas at Status.
type ScaleProgress struct {
	Previous, Want, Status int32
}

// Scale sets the workload's replica count through the scale subresource and waits up to timeout
// until status.replicas reaches it, calling progress (if not nil) with the state at the start
// and at every change. It returns the previous spec.replicas, also when waiting fails, so the
// caller can record it for rollback.
func (c *Cluster) Scale(ctx context.Context, kind Workload, name string, replicas int32, timeout time.Duration, progress func(ScaleProgress)) (previous int32, err error) {
	if progress == nil {
		progress = func(ScaleProgress) {}
	}
	if replicas < 0 {
		return 0, report.Fail(c.scaleFailed(report.ScaleNegative, kind, name, replicas), nil)
	}
	previous, err = c.setScale(ctx, kind, name, replicas)
	if err != nil {
		return previous, err
	}
	state := func(status int32) ScaleProgress {
		return ScaleProgress{Previous: previous, Want: replicas, Status: status}
	}

	last := int32(-1)
	var rerr error
	err = wait.PollUntilContextTimeout(ctx, c.poll, timeout, true, func(ctx context.Context) (bool, error) {
		var status int32
		_, status, rerr = c.Replicas(ctx, kind, name)
		switch {
		case rerr == nil && status == replicas:
			if last != status {
				progress(state(status))
			}
			return true, nil
		case rerr == nil && status != last:
			progress(state(status))
			last = status
		}
		return false, nil
	})
	switch {
	case err == nil:
		return previous, nil
	case last < 0:
		f := c.scaleFailed(report.ScaleUnread, kind, name, replicas)
		f.Previous, f.LastErr = previous, fmt.Sprint(rerr)
		return previous, report.Fail(f, err)
	default:
		f := c.scaleFailed(report.ScaleStuck, kind, name, replicas)
		f.Previous, f.Status, f.Timeout = previous, last, timeout
		return previous, report.Fail(f, err)
	}
}

// setScale writes spec.replicas through the scale subresource with the resourceVersion it
// read, reading again on a conflict, and returns the spec.replicas it replaced.
func (c *Cluster) setScale(ctx context.Context, kind Workload, name string, replicas int32) (int32, error) {
	var previous int32
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		previous, err = c.trySetScale(ctx, kind, name, replicas)
		return err
	})
	switch {
	case err == nil:
		return previous, nil
	case apierrors.IsNotFound(err):
		return previous, c.notFound(kind, name)
	case apierrors.IsConflict(err):
		f := c.scaleFailed(report.ScaleConflicting, kind, name, replicas)
		f.Attempts = retry.DefaultRetry.Steps
		return 0, report.Fail(f, err)
	default:
		return previous, report.Fail(c.scaleFailed(report.ScaleCall, kind, name, replicas), explain(err))
	}
}

func (c *Cluster) trySetScale(ctx context.Context, kind Workload, name string, replicas int32) (int32, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	apps := c.client.AppsV1()
	switch kind {
	case StatefulSet:
		sc, err := apps.StatefulSets(c.namespace).GetScale(ctx, name, metav1.GetOptions{})
		if err != nil {
			return 0, err
		}
		previous := sc.Spec.Replicas
		sc.Spec.Replicas = replicas
		_, err = apps.StatefulSets(c.namespace).UpdateScale(ctx, name, sc, metav1.UpdateOptions{})
		return previous, err
	case Deployment:
		sc, err := apps.Deployments(c.namespace).GetScale(ctx, name, metav1.GetOptions{})
		if err != nil {
			return 0, err
		}
		previous := sc.Spec.Replicas
		sc.Spec.Replicas = replicas
		_, err = apps.Deployments(c.namespace).UpdateScale(ctx, name, sc, metav1.UpdateOptions{})
		return previous, err
	}
	return 0, report.Fail(report.UnknownWorkload{Kind: string(kind)}, nil)
}

// scaleFailed is a failed scale of the workload in this cluster.
func (c *Cluster) scaleFailed(how report.ScaleHow, kind Workload, name string, replicas int32) report.ScaleFailed {
	return report.ScaleFailed{How: how, Cluster: c.name, Namespace: c.namespace, Kind: string(kind), Name: name, Replicas: replicas}
}

// unknownWorkload refuses a kind that is neither a statefulset nor a deployment.
func (c *Cluster) unknownWorkload(kind Workload, name string) error {
	return report.Fail(report.UnknownWorkload{Cluster: c.name, Namespace: c.namespace, Kind: string(kind), Name: name}, nil)
}

// notFound is a workload that is not in this cluster (errors.Is ErrNotFound).
func (c *Cluster) notFound(kind Workload, name string) error {
	return &report.Failed{Facts: report.WorkloadNotFound{Cluster: c.name, Namespace: c.namespace, Kind: string(kind), Name: name}, Sentinel: ErrNotFound}
}
