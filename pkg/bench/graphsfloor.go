// The floor of the big graphs: a plain client creating what one DeepApp or
// FanoutApp expands to, level by level, the way a perfect controller would.

package bench

import (
	"context"
	"fmt"
	"sync"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
)

// floorGraphGVR is the floor's instance object for both graphs: one
// generic kind, its spec and status kept as written.
var floorGraphGVR = schema.GroupVersionResource{Group: "bench.trellis.dev", Version: "v1alpha1", Resource: "floorgraphs"}

const floorGraphKind = "FloorGraph"

// levelConcurrency bounds the creates in flight for one instance's level: a
// level of 200 ConfigMaps at once per instance would only queue in the
// API server's flow control.
const levelConcurrency = 20

func floorGraphCRD() *extv1.CustomResourceDefinition {
	open := extv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr.To(true)}
	str := extv1.JSONSchemaProps{Type: "string"}
	return &extv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: floorGraphGVR.Resource + "." + floorGraphGVR.Group},
		Spec: extv1.CustomResourceDefinitionSpec{
			Group: floorGraphGVR.Group,
			Names: extv1.CustomResourceDefinitionNames{Plural: "floorgraphs", Singular: "floorgraph", Kind: floorGraphKind, ListKind: floorGraphKind + "List"},
			Scope: extv1.NamespaceScoped,
			Versions: []extv1.CustomResourceDefinitionVersion{{
				Name: floorGraphGVR.Version, Served: true, Storage: true,
				Subresources: &extv1.CustomResourceSubresources{Status: &extv1.CustomResourceSubresourceStatus{}},
				Schema: &extv1.CustomResourceValidation{OpenAPIV3Schema: &extv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]extv1.JSONSchemaProps{
						"apiVersion": str, "kind": str, "metadata": {Type: "object"},
						"spec": open, "status": open,
					},
				}},
			}},
		},
	}
}

var kindResources = map[string]schema.GroupVersionResource{"ConfigMap": configMaps, "Secret": secrets, "Service": services}

// deepLevel renders one level's children of instance name, reading every
// input from created (the create responses of the previous levels).
func deepLevel(level []graphChild, name string, created map[string]*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	var missing error
	out := make([]*unstructured.Unstructured, len(level))
	for i, c := range level {
		obj := renderChild(c, name, func(in graphInput) string {
			src := created[in.From]
			if src == nil {
				missing = fmt.Errorf("%s reads %s, not created yet", c.ID, in.From)
				return ""
			}
			v, _, _ := unstructured.NestedString(src.Object, in.Path...)
			return v
		})
		out[i] = &unstructured.Unstructured{Object: obj}
	}
	return out, missing
}

// fanoutObjects are the ConfigMaps of one FanoutApp named name.
func fanoutObjects(f FanoutGraph, name string) []*unstructured.Unstructured {
	items := f.ItemNames()
	out := make([]*unstructured.Unstructured, len(items))
	for i, it := range items {
		out[i] = &unstructured.Unstructured{Object: fanoutChild(name, it)}
	}
	return out
}

// graphFloorClient creates one graph instance's objects with plain creates.
type graphFloorClient struct {
	dyn dynamic.Interface
	ns  string
}

// createAll creates objs concurrently (levelConcurrency at a time) and
// returns the create responses in the same order.
func (f *graphFloorClient) createAll(ctx context.Context, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, len(objs))
	errs := make([]error, len(objs))
	slots := make(chan struct{}, levelConcurrency)
	var wg sync.WaitGroup
	for i, o := range objs {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			out[i], errs[i] = f.dyn.Resource(kindResources[o.GetKind()]).Namespace(f.ns).Create(ctx, o, metav1.CreateOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("create %s %s: %w", objs[i].GetKind(), objs[i].GetName(), err)
		}
	}
	return out, nil
}

// finish writes the instance's status once, as the controller would.
func (f *graphFloorClient) finish(ctx context.Context, inst *unstructured.Unstructured, status map[string]any) error {
	status["state"] = "ACTIVE"
	inst.Object["status"] = status
	if _, err := f.dyn.Resource(floorGraphGVR).Namespace(f.ns).UpdateStatus(ctx, inst, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("floor %s status: %w", inst.GetName(), err)
	}
	return nil
}

func (f *graphFloorClient) instance(ctx context.Context, name string, items []string) (*unstructured.Unstructured, error) {
	inst := graphInstance(floorGraphGVR.GroupVersion(), floorGraphKind, f.ns, name, items)
	created, err := f.dyn.Resource(floorGraphGVR).Namespace(f.ns).Create(ctx, inst, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create %s %s: %w", floorGraphKind, name, err)
	}
	return created, nil
}

// deep creates one DeepApp's worth: the instance, each level concurrently
// from the previous levels' create responses, then the status.
func (f *graphFloorClient) deep(ctx context.Context, g *DeepGraph, name string) error {
	inst, err := f.instance(ctx, name, nil)
	if err != nil {
		return err
	}
	created := map[string]*unstructured.Unstructured{}
	for _, level := range g.byLevel() {
		objs, err := deepLevel(level, name, created)
		if err != nil {
			return err
		}
		got, err := f.createAll(ctx, objs)
		if err != nil {
			return err
		}
		for i, c := range level {
			created[c.ID] = got[i]
		}
	}
	last, _, _ := unstructured.NestedString(created[g.lastID()].Object, "data", "self")
	return f.finish(ctx, inst, map[string]any{"last": last})
}

// fanout creates one FanoutApp's worth: the instance, its ConfigMaps, the status.
func (f *graphFloorClient) fanout(ctx context.Context, fg FanoutGraph, name string) error {
	inst, err := f.instance(ctx, name, fg.ItemNames())
	if err != nil {
		return err
	}
	if _, err := f.createAll(ctx, fanoutObjects(fg, name)); err != nil {
		return err
	}
	return f.finish(ctx, inst, map[string]any{"count": int64(fg.Items)})
}
