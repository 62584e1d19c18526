package instance

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func cond(st map[string]any, typ string) map[string]any {
	for _, c := range st["conditions"].([]any) {
		if m := c.(map[string]any); m["type"] == typ {
			return m
		}
	}
	return nil
}

// An ACTIVE, "properly managed" instance whose RGD is deleted with
// orphan-instances says it is orphaned; one created while the RGD's
// deletion is pending says it is not reconciled.
func TestOrphanedAndRefusedStatus(t *testing.T) {
	inst := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "x", "generation": int64(2)},
		"status": map[string]any{"state": "ACTIVE", "url": "u", "conditions": []any{
			map[string]any{"type": "InstanceManaged", "status": "True", "reason": "Managed", "message": "instance is properly managed with finalizers and labels", "lastTransitionTime": "2026-01-01T00:00:00Z"},
			map[string]any{"type": "Ready", "status": "True", "reason": "Ready", "lastTransitionTime": "2026-01-01T00:00:00Z"},
		}},
	}}
	st := orphanedStatus(inst, "web")
	if st["state"] != StateOrphaned || st["url"] != "u" {
		t.Errorf("state %v, url %v", st["state"], st["url"])
	}
	for _, typ := range []string{"InstanceManaged", "Ready"} {
		c := cond(st, typ)
		if c == nil || c["status"] != "False" || c["reason"] != ReasonOrphaned || !strings.Contains(c["message"].(string), "web was deleted") {
			t.Errorf("%s: %v", typ, c)
		}
	}
	st = refusedStatus(inst, "web")
	if c := cond(st, "Ready"); st["state"] != StateError || c["reason"] != ReasonRGDDeleting {
		t.Errorf("refused: state %v, Ready %v", st["state"], c)
	}
}
