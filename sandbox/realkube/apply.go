package realkube

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	sigsyaml "sigs.k8s.io/yaml"
)

// ApplyOptions say how ApplyYAML applies.
type ApplyOptions struct {
	// FieldManager names the applier (server-side apply); default "realkube".
	FieldManager string
	// DryRun asks the API server to admit and validate without storing (dryRun=All).
	DryRun bool
	// Token is the identity to apply as; empty means the cluster admin.
	Token string
}

// Applied is one object the API server accepted, with the warnings it answered.
type Applied struct {
	Object   *unstructured.Unstructured
	Warnings []string
}

// SplitYAML decodes the documents of a multi-document YAML stream (empty ones skipped).
func SplitYAML(raw []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var out []*unstructured.Unstructured
	for {
		doc, err := dec.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var m map[string]any
		if err := sigsyaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("decode YAML document: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// Apply sends each object with server-side apply, in order, and returns what the API server
// answered. The first refusal stops it.
func (c *Cluster) Apply(ctx context.Context, objs []*unstructured.Unstructured, opts ApplyOptions) ([]Applied, error) {
	if opts.FieldManager == "" {
		opts.FieldManager = "realkube"
	}
	cfg := c.AdminREST()
	if opts.Token != "" {
		cfg = c.RESTConfig(opts.Token)
	}
	warn := &warnings{}
	cfg.WarningHandler = warn
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(c.AdminREST())
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	var out []Applied
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return out, fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		body, err := obj.MarshalJSON()
		if err != nil {
			return out, err
		}
		var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == "namespace" {
			ri = dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace())
		}
		po := metav1.PatchOptions{FieldManager: opts.FieldManager, Force: new(bool)}
		*po.Force = true
		if opts.DryRun {
			po.DryRun = []string{metav1.DryRunAll}
		}
		warn.take()
		res, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body, po)
		if err != nil {
			return out, fmt.Errorf("apply %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
		}
		out = append(out, Applied{Object: res, Warnings: warn.take()})
	}
	return out, nil
}

// warnings collects the Warning headers of responses.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

var _ rest.WarningHandler = (*warnings)(nil)
