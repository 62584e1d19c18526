package identity

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/trellis-dev/trellis/pkg/graph"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Ref{
		"team-a/deployer":               {Namespace: "team-a", Name: "deployer"},
		" team-a/deployer ":             {Namespace: "team-a", Name: "deployer"},
		"{instance-namespace}/deployer": {Namespace: InstanceNamespace, Name: "deployer"},
		"kube-system/a.b-c":             {Namespace: "kube-system", Name: "a.b-c"},
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "deployer", "/deployer", "team-a/", "Team-A/deployer", "team-a/de/ployer", "{namespace}/deployer"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q): no error", in)
		}
	}
}

func TestRefResolution(t *testing.T) {
	per := Ref{Namespace: InstanceNamespace, Name: "deployer"}
	if got := per.In("team-b"); got != (Ref{Namespace: "team-b", Name: "deployer"}) || !per.PerInstance() {
		t.Errorf("per-instance In = %v", got)
	}
	fixed := Ref{Namespace: "team-a", Name: "deployer"}
	if got := fixed.In("team-b"); got != fixed || fixed.PerInstance() {
		t.Errorf("fixed In = %v", got)
	}
	if fixed.User() != "system:serviceaccount:team-a:deployer" {
		t.Errorf("User = %q", fixed.User())
	}
	if g := strings.Join(fixed.Groups(), ","); g != "system:serviceaccounts,system:serviceaccounts:team-a,system:authenticated" {
		t.Errorf("Groups = %q", g)
	}
}

func TestPolicyFor(t *testing.T) {
	def := &Ref{Namespace: InstanceNamespace, Name: "default"}
	p := Policy{Default: def}
	if got, err := p.For(nil); err != nil || got != def {
		t.Errorf("no annotation: %v, %v; want the default", got, err)
	}
	if got, err := (Policy{}).For(map[string]string{}); err != nil || got != nil {
		t.Errorf("no annotation, no default: %v, %v; want trellis's own (nil)", got, err)
	}
	got, err := p.For(map[string]string{Annotation: "team-a/x"})
	if err != nil || *got != (Ref{Namespace: "team-a", Name: "x"}) {
		t.Errorf("annotation: %v, %v", got, err)
	}
	// A malformed annotation never falls back to the default or to trellis.
	got, err = p.For(map[string]string{Annotation: "x"})
	if err == nil || got != nil || !strings.Contains(err.Error(), Annotation) {
		t.Errorf("malformed: %v, %v; want an error naming %s", got, err, Annotation)
	}
	// Without the admission policy a fixed ServiceAccount is refused (anyone
	// who may write an RGD could borrow it); per-namespace ones and RGDs
	// without the annotation keep working.
	unguarded := Policy{Unguarded: errors.New("forbidden")}
	if got, err := unguarded.For(map[string]string{Annotation: "team-a/x"}); err == nil || got != nil || !strings.Contains(err.Error(), PolicyName) {
		t.Errorf("fixed identity without the policy: %v, %v; want an error naming %s", got, err, PolicyName)
	}
	if got, err := unguarded.For(map[string]string{Annotation: InstanceNamespace + "/x"}); err != nil || got.Name != "x" {
		t.Errorf("per-namespace identity without the policy: %v, %v", got, err)
	}
	if got, err := unguarded.For(nil); err != nil || got != nil {
		t.Errorf("no annotation without the policy: %v, %v", got, err)
	}
}

func TestAllowsCrossNamespace(t *testing.T) {
	allow := map[string]string{AllowCrossNamespaceAnnotation: "true"}
	if !(Policy{}).AllowsCrossNamespace(nil) {
		t.Error("not confined: want allowed")
	}
	if (Policy{ConfineChildren: true}).AllowsCrossNamespace(nil) {
		t.Error("confined, no annotation: want refused")
	}
	if !(Policy{ConfineChildren: true}).AllowsCrossNamespace(allow) {
		t.Error("confined, annotation: want allowed")
	}
}

func TestNeeds(t *testing.T) {
	cm := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	node := func(id string, namespaced bool, ns any) *graph.Node {
		n := &graph.Node{ID: id, GVR: cm, Namespaced: namespaced, Template: map[string]any{"metadata": map[string]any{}}}
		if ns != nil {
			n.Template["metadata"].(map[string]any)["namespace"] = ns
		}
		return n
	}
	coll := node("coll", true, nil)
	coll.ForEach = []*graph.Dimension{{Name: "x"}}
	ext := &graph.Node{ID: "ext", GVR: cm, Namespaced: true, External: &graph.External{Namespace: &graph.Field{Raw: "shared"}}}
	g := &graph.Graph{Nodes: []*graph.Node{
		node("literal", true, "kube-system"),
		node("default", true, nil),
		node("expr", true, "${schema.spec.ns}"),
		node("cluster", false, nil),
		coll, ext,
	}}
	type want struct {
		ns    string
		verbs string
	}
	check := func(name string, got []Need, wants map[string]want) {
		t.Helper()
		if len(got) != len(wants) {
			t.Errorf("%s: %d needs, want %d: %+v", name, len(got), len(wants), got)
		}
		for _, n := range got {
			w, ok := wants[n.ID]
			if v := strings.Join(n.Verbs, ","); !ok || n.Namespace != w.ns || v != w.verbs {
				t.Errorf("%s: %s: namespace %q verbs %s; want %+v", name, n.ID, n.Namespace, v, w)
			}
		}
	}
	child, list, read := "create,get,patch,delete", "create,get,patch,delete,list,watch", "get,list,watch"
	check("RGD time", Needs(g, "", false), map[string]want{
		"literal": {"kube-system", child}, "default": {"", child}, "expr": {"", child},
		"cluster": {"", child}, "coll": {"", list}, "ext": {"shared", read},
	})
	check("instance time", Needs(g, "team-a", false), map[string]want{
		"literal": {"kube-system", child}, "default": {"team-a", child}, // expr: left to the API server
		"cluster": {"", child}, "coll": {"team-a", list}, "ext": {"shared", read},
	})
	check("instance time, confined", Needs(g, "team-a", true), map[string]want{
		"literal": {"team-a", child}, "default": {"team-a", child}, "expr": {"team-a", child},
		"cluster": {"", child}, "coll": {"team-a", list}, "ext": {"shared", read},
	})
}

func TestForbiddenErrorNamesKindVerbAndIdentity(t *testing.T) {
	e := &ForbiddenError{
		Identity: Ref{Namespace: "team-a", Name: "deployer"},
		Need: Need{GVK: schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"},
			GVR: schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}},
		Verb: "create",
	}
	want := "ServiceAccount team-a/deployer may not create ClusterRoleBinding (clusterrolebindings.rbac.authorization.k8s.io) cluster-wide"
	if e.Error() != want {
		t.Errorf("got %q\nwant %q", e.Error(), want)
	}
}
