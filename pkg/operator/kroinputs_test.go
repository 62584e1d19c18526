package operator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/trellis-dev/trellis/pkg/crd"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

// Inputs that crashed kro's controller, replayed against the real API
// server: each must give a working instance or a condition that names the
// field, and never take the controller down.

func getObj(t *testing.T, res schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := dyn.Resource(res).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func isActive(u *unstructured.Unstructured) bool { return str(u, "status", "state") == "ACTIVE" }

// kro#858 (a list of a custom type the instance does not set), kro#842
// (CEL format), uint and bytes values, kro#878 (an RGD without resources;
// an RGD with an empty spec).
func TestKroCrashInputs(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	applyRGD(t, parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: kro-inputs}
spec:
  schema:
    apiVersion: v1alpha1
    kind: KroInputs
    types:
      Port: {name: string, port: "integer | default=80"}
    spec:
      name: string | default=app
      count: integer | default=3
      ports: "[]Port"
  resources:
  - id: cm
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.metadata.name}-cm"}
      data:
        names: "${schema.spec.ports.map(p, p.name + ':' + string(p.port)).join(',')}"
        formatted: "${'%s-%d'.format([schema.spec.name, schema.spec.count])}"
        uint: "${string(uint(schema.spec.count) + 1u)}"
        bytes: "${string(bytes(schema.spec.name))}"
      binaryData:
        raw: ${bytes(schema.spec.name)}
  - id: deploy
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: "${schema.metadata.name}"}
      spec:
        replicas: ${uint(schema.spec.count)}
        selector: {matchLabels: {app: "${schema.metadata.name}"}}
        template:
          metadata: {labels: {app: "${schema.metadata.name}"}}
          spec: {containers: [{name: c, image: nginx}]}
`))
	applyRGD(t, parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: no-resources}
spec:
  schema: {apiVersion: v1alpha1, kind: NoResources, spec: {}}
`))
	for _, name := range []string{"kro-inputs", "no-resources"} {
		eventually(t, 30*time.Second, name+" Active", getter(rgdGVR, "", name), rgdActive)
	}
	res := gvr(crd.Plural("KroInputs"))
	inst := func(name, spec string) *unstructured.Unstructured {
		return parse(t, fmt.Sprintf("apiVersion: kro.run/v1alpha1\nkind: KroInputs\nmetadata: {name: %s, namespace: %s}\nspec: %s\n", name, ns, spec))
	}

	// kro#858: ports not given. The resource that reads it waits, and the
	// condition names the field.
	applyInstance(t, res, inst("no-ports", "{}"))
	eventually(t, 30*time.Second, "condition naming spec.ports", getter(res, ns, "no-ports"), func(u *unstructured.Unstructured) bool {
		c := condition(u, "ResourcesReady")
		return c != nil && c["status"] == "False" && strings.Contains(fmt.Sprint(c["message"]), "ports")
	})

	applyInstance(t, res, inst("with-ports", "{ports: [{name: http}, {name: grpc, port: 9000}]}"))
	eventually(t, 30*time.Second, "with-ports ACTIVE", getter(res, ns, "with-ports"), isActive)
	cm := getObj(t, configMaps, ns, "with-ports-cm")
	for k, want := range map[string]string{"names": "http:80,grpc:9000", "formatted": "app-3", "uint": "4", "bytes": "app"} {
		if got := str(cm, "data", k); got != want {
			t.Errorf("data.%s = %q, want %q", k, got, want)
		}
	}
	if got := str(cm, "binaryData", "raw"); got != "YXBw" { // base64("app")
		t.Errorf("binaryData.raw = %q", got)
	}
	d := getObj(t, deploys, ns, "with-ports")
	if r, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); r != 3 {
		t.Errorf("replicas from a uint = %d", r)
	}

	// kro#878: an RGD without resources serves its kind; one with an empty
	// spec is refused by the API server with the missing field named.
	applyInstance(t, gvr(crd.Plural("NoResources")), parse(t, fmt.Sprintf("apiVersion: kro.run/v1alpha1\nkind: NoResources\nmetadata: {name: nr, namespace: %s}\nspec: {}\n", ns)))
	eventually(t, 30*time.Second, "instance of an RGD without resources ACTIVE", getter(gvr(crd.Plural("NoResources")), ns, "nr"), isActive)
	empty := parse(t, "apiVersion: kro.run/v1alpha1\nkind: ResourceGraphDefinition\nmetadata: {name: empty-spec}\nspec: {}\n")
	_, err := dyn.Resource(rgdGVR).Create(context.Background(), empty, metav1.CreateOptions{})
	if err == nil {
		_ = dyn.Resource(rgdGVR).Delete(context.Background(), "empty-spec", metav1.DeleteOptions{})
		t.Fatal("an RGD with an empty spec was admitted")
	}
	if !strings.Contains(err.Error(), "spec.schema") {
		t.Errorf("rejection %q does not name spec.schema", err)
	}
}

// gadgetCRD has the shapes kro#900 and #461 tripped over: several served
// versions (the RGD uses the one that is not stored), int-or-string,
// arrays of arrays, maps of objects, an open subtree, and nothing declared
// for metadata.
const gadgetCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.shapes.example.com}
spec:
  group: shapes.example.com
  names: {kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}
  scope: Namespaced
  versions:
  - name: v2
    served: true
    storage: true
    schema: {openAPIV3Schema: &schema {type: object, properties: {spec: {type: object, properties: {
      size: {x-kubernetes-int-or-string: true},
      matrix: {type: array, items: {type: array, items: {type: integer}}},
      ports: {type: object, additionalProperties: {type: object, properties: {port: {type: integer}, proto: {type: string}}}},
      extra: {type: object, x-kubernetes-preserve-unknown-fields: true}}}}}}
  - name: v1beta1
    served: true
    storage: false
    schema: {openAPIV3Schema: *schema}
`

// TestUnusualCRDShapes covers kro#900 and #461: an RGD creates a Gadget
// of the CRD above and reads its fields with CEL into a ConfigMap.
func TestUnusualCRDShapes(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	apply(t, crds, parse(t, gadgetCRD))
	t.Cleanup(func() {
		_ = dyn.Resource(crds).Delete(context.Background(), "gadgets.shapes.example.com", metav1.DeleteOptions{})
	})
	applyRGD(t, parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: gadget-user}
spec:
  schema: {apiVersion: v1alpha1, kind: GadgetUser, spec: {size: string | default=10Gi}}
  resources:
  - id: gadget
    template:
      apiVersion: shapes.example.com/v1beta1
      kind: Gadget
      metadata: {name: "${schema.metadata.name}"}
      spec:
        size: ${schema.spec.size}
        matrix: [[1, 2], [3]]
        ports: {web: {port: 80, proto: TCP}}
        extra: {anything: {goes: [true]}}
  - id: summary
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.metadata.name}-summary"}
      data:
        size: "${string(gadget.spec.size)}"
        cell: "${string(gadget.spec.matrix[0][1])}"
        web: "${gadget.spec.ports.web.proto + '/' + string(gadget.spec.ports.web.port)}"
        extra: "${string(gadget.spec.extra.anything.goes[0])}"
        generation: "${string(gadget.metadata.generation)}"
`))
	eventually(t, 60*time.Second, "RGD Active", getter(rgdGVR, "", "gadget-user"), rgdActive)
	res := gvr(crd.Plural("GadgetUser"))
	applyInstance(t, res, parse(t, fmt.Sprintf("apiVersion: kro.run/v1alpha1\nkind: GadgetUser\nmetadata: {name: g, namespace: %s}\nspec: {}\n", ns)))
	eventually(t, 60*time.Second, "instance ACTIVE", getter(res, ns, "g"), isActive)
	cm := getObj(t, configMaps, ns, "g-summary")
	for k, want := range map[string]string{"size": "10Gi", "cell": "2", "web": "TCP/80", "extra": "true", "generation": "1"} {
		if got := str(cm, "data", k); got != want {
			t.Errorf("data.%s = %q, want %q", k, got, want)
		}
	}
}
