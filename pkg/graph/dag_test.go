package graph

import (
	"reflect"
	"strings"
	"testing"
)

func TestSortTopologicallyKeepsDeclarationOrderForTies(t *testing.T) {
	ids := []string{"configmap", "service", "deployment", "autoscaler"}
	deps := map[string][]string{"deployment": {"configmap"}, "autoscaler": {"deployment"}}
	got, err := sortTopologically(ids, deps)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"configmap", "service", "deployment", "autoscaler"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestSortTopologicallyMovesDependenciesFirst(t *testing.T) {
	ids := []string{"app", "db", "net"}
	deps := map[string][]string{"app": {"db"}, "db": {"net"}}
	got, err := sortTopologically(ids, deps)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"net", "db", "app"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestSortTopologicallySpellsOutCycles(t *testing.T) {
	_, err := sortTopologically([]string{"a", "b", "c"}, map[string][]string{"a": {"b"}, "b": {"a"}})
	if err == nil || !strings.Contains(err.Error(), "graph contains a cycle: a -> b -> a") {
		t.Fatalf("got %v", err)
	}
	_, err = sortTopologically([]string{"a"}, map[string][]string{"a": {"a"}})
	if err == nil || !strings.Contains(err.Error(), "self references are not allowed") {
		t.Fatalf("got %v", err)
	}
}
