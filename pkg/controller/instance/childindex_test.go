package instance

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

func TestChildIndex(t *testing.T) {
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	svcs := schema.GroupVersionResource{Version: "v1", Resource: "services"}
	child := func(name, owner string) *compact {
		return &compact{slimMeta: slimMeta{Name: name, Namespace: "ns"}, instanceID: owner}
	}
	x := newChildIndex()
	x.update(cms, child("a-config", "i1"), nil, false)
	x.update(svcs, child("a", "i1"), nil, false)
	x.update(cms, child("b-config", "i2"), nil, false)
	x.update(cms, child("a-config", "i1"), child("a-config", "i1"), false) // an update: no duplicate
	want := []childRef{{cms, "ns/a-config"}, {svcs, "ns/a"}}
	if got := x.children("i1"); !reflect.DeepEqual(got, want) {
		t.Errorf("children of i1 = %v, want %v", got, want)
	}
	// Relabelled to another instance, then deleted (as the informer reports it).
	x.update(cms, child("a-config", "i2"), child("a-config", "i1"), false)
	if got := x.children("i1"); !reflect.DeepEqual(got, []childRef{{svcs, "ns/a"}}) {
		t.Errorf("after relabel, children of i1 = %v", got)
	}
	x.update(svcs, cache.DeletedFinalStateUnknown{Key: "ns/a", Obj: child("a", "i1")}, nil, true)
	if got := x.children("i1"); len(got) != 0 || len(x.refs) != 1 {
		t.Errorf("after delete, children of i1 = %v, index %v", got, x.refs)
	}
	if got := x.children("i2"); len(got) != 2 {
		t.Errorf("children of i2 = %v", got)
	}
}
