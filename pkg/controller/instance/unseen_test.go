package instance

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

func TestUnseenChildren(t *testing.T) {
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	k := key{gvr: schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "webapps"}, namespace: "ns", name: "app"}
	obj := func(name, uid, inst string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"big": "value"}}}
		u.SetName(name)
		u.SetNamespace("ns")
		u.SetUID(types.UID(uid))
		u.SetLabels(map[string]string{trt.LabelInstanceID: inst, "other": "x"})
		u.SetAnnotations(map[string]string{trt.AnnotationApplyOrder: "2", "big": "y"})
		return u
	}
	names := func(cs []child) (out []string) {
		for _, c := range cs {
			out = append(out, c.name)
		}
		return out
	}
	u := newUnseenChildren()
	u.created(k, cms, obj("endpoints", "c1", "i1"))
	u.created(k, cms, obj("config", "c2", "i1"))
	u.created(k, cms, obj("stale", "c3", "i0")) // of an earlier instance of the same name

	cached := []child{childOfObject(cms, obj("config", "c2", "i1"))}
	got := u.add(k, "i1", cached)
	if len(got) != 2 || got[0].name != "config" || got[1].name != "endpoints" {
		t.Fatalf("add = %v, want the cached config and the unseen endpoints once each", names(got))
	}
	want := child{gvr: cms, namespace: "ns", name: "endpoints", uid: "c1", instanceID: "i1", order: 2}
	if got[1] != want {
		t.Errorf("unseen child = %+v, want %+v", got[1], want)
	}

	u.seen("c1")
	if got := u.add(k, "i1", nil); len(got) != 1 || got[0].name != "config" {
		t.Errorf("after the endpoints were seen: add = %v, want [config]", names(got))
	}
	u.seen("c2")
	u.seen("c3")
	if len(u.byInst) != 0 || len(u.byChild) != 0 {
		t.Errorf("everything seen, still held: %v %v", u.byInst, u.byChild)
	}

	u.created(k, cms, obj("endpoints", "c4", "i1"))
	u.forget(k)
	if got := u.add(k, "i1", nil); len(got) != 0 || len(u.byChild) != 0 {
		t.Errorf("after forget: add = %v, %d children held", names(got), len(u.byChild))
	}
}
