package runtime_test

import (
	"reflect"
	"testing"

	"github.com/trellis-dev/trellis/pkg/runtime"
)

func TestChildLabelSets(t *testing.T) {
	lean := map[string]string{
		runtime.LabelOwned: "true", runtime.LabelInstanceID: "u-1", runtime.LabelInstanceName: "p",
	}
	if got := runtime.ChildLabels(instance(nil), "v9", runtime.ChildLabelsLean); !reflect.DeepEqual(got, lean) {
		t.Errorf("lean labels = %v, want %v", got, lean)
	}
	kro := map[string]string{
		runtime.LabelOwned: "true", runtime.LabelInstanceID: "u-1", runtime.LabelInstanceName: "p",
		runtime.LabelKroVersion: "v9", runtime.LabelInstanceGroup: "kro.run", runtime.LabelInstanceVersion: "v1alpha1",
		runtime.LabelInstanceKind: "Pair", runtime.LabelManagedBy: "kro", runtime.LabelInstanceNamespace: "ns",
	}
	if got := runtime.ChildLabels(instance(nil), "v9", runtime.ChildLabelsKro); !reflect.DeepEqual(got, kro) {
		t.Errorf("kro labels = %v, want %v", got, kro)
	}
	for in, want := range map[string]runtime.ChildLabelSet{"": runtime.ChildLabelsLean, "lean": runtime.ChildLabelsLean, "kro": runtime.ChildLabelsKro} {
		if got, err := runtime.ParseChildLabelSet(in); err != nil || got != want {
			t.Errorf("ParseChildLabelSet(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := runtime.ParseChildLabelSet("all"); err == nil {
		t.Error(`ParseChildLabelSet("all") succeeded`)
	}
}
