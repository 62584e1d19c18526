package instance

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestContainsIgnoresServerDefaultsButNotDrift(t *testing.T) {
	live := map[string]any{
		"spec": map[string]any{"replicas": int64(2), "strategy": map[string]any{"type": "RollingUpdate"},
			"ports": []any{map[string]any{"port": int64(80), "protocol": "TCP"}}},
		"status": map[string]any{"availableReplicas": int64(2)},
	}
	if !contains(live, map[string]any{"spec": map[string]any{"replicas": float64(2), "ports": []any{map[string]any{"port": int64(80)}}}}) {
		t.Error("server-set fields and int/float encodings must not count as a difference")
	}
	if contains(live, map[string]any{"spec": map[string]any{"replicas": int64(3)}}) {
		t.Error("a changed value must count")
	}
	if contains(live, map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": int64(80)}, map[string]any{"port": int64(81)}}}}) {
		t.Error("a list of another length must count")
	}
	if !contains(live, map[string]any{"spec": map[string]any{"selector": map[string]any{}}}) {
		t.Error("empty desired values are dropped by the server and must not count")
	}
}

func TestMatchesSecretStringData(t *testing.T) {
	desired := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
		"stringData": map[string]any{"token": "abc"}}}
	live := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
		"data": map[string]any{"token": "YWJj"}, "type": "Opaque"}}
	if !matches(live, desired) {
		t.Error("stringData must compare against the stored data")
	}
	live.Object["data"] = map[string]any{"token": "eHl6"}
	if matches(live, desired) {
		t.Error("changed secret data must count as drift")
	}
}
