package instance

import (
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

func TestCompactFromJSON(t *testing.T) {
	raw := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"ns","uid":"u1","resourceVersion":"7",
		"labels":{"kro.run/instance-id":"i1","kro.run/owned":"true"},"annotations":{"internal.kro.run/apply-order":"1"},
		"managedFields":[{"manager":"trellis","operation":"Apply","fieldsType":"FieldsV1","fieldsV1":{"f:data":{}}}]},
		"data":{"x":"a<b"}}`)
	c, err := compactFromJSON(raw, decodeOptions{routingOnly: true, fieldManager: "trellis"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "a" || c.Namespace != "ns" || c.UID != "u1" || c.ResourceVersion != "7" || c.Kind != "ConfigMap" || c.APIVersion != "v1" {
		t.Errorf("metadata = %+v %+v", c.TypeMeta, c.slimMeta)
	}
	if c.updateOwned {
		t.Error("an Apply entry taken for an Update entry")
	}
	if c.instanceID != "i1" || instanceID(c) != "i1" || c.Labels != nil || c.Annotations != nil {
		t.Errorf("routing-only metadata kept %q %v %v", c.instanceID, c.Labels, c.Annotations)
	}
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	if ch, ok := childOf(cms, c); !ok || ch != (child{gvr: cms, namespace: "ns", name: "a", uid: "u1", instanceID: "i1", order: 1}) {
		t.Errorf("childOf = %+v, %v: want identity, instance id and deletion wave 1 without a decode", ch, ok)
	}
	u := c.object()
	if u.GetManagedFields() != nil {
		t.Error("managedFields kept in the JSON")
	}
	if u.GetAnnotations()["internal.kro.run/apply-order"] != "1" || u.GetLabels()["kro.run/owned"] != "true" || u.Object["data"].(map[string]any)["x"] != "a<b" {
		t.Errorf("JSON lost content: %v", u.Object)
	}

	full, err := compactFromJSON(raw, decodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Labels) != 2 || full.Annotations["internal.kro.run/apply-order"] != "1" {
		t.Errorf("full metadata = %v %v", full.Labels, full.Annotations)
	}

	posted := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","managedFields":[
		{"manager":"trellis","operation":"Update","subresource":"status"},{"manager":"other","operation":"Update"},{"manager":"trellis","operation":"Update"}]}}`)
	if p, err := compactFromJSON(posted, decodeOptions{routingOnly: true, fieldManager: "trellis"}); err != nil || !p.updateOwned {
		t.Errorf("a child trellis created with POST not noticed: %v", err)
	}

	item := []byte(`{"metadata":{"name":"b","namespace":"ns"},"data":{"k":"v"}}`)
	li, err := compactFromJSON(item, decodeOptions{apiVersion: "v1", kind: "ConfigMap"})
	if err != nil {
		t.Fatal(err)
	}
	if u := li.object(); li.Kind != "ConfigMap" || u.GetKind() != "ConfigMap" || u.GetAPIVersion() != "v1" {
		t.Errorf("list item without kind not filled in: %+v %v", li.TypeMeta, u.Object)
	}

	bookmark := []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"9","annotations":{"` + metav1.InitialEventsAnnotationKey + `":"true"}}}`)
	b, err := compactFromJSON(bookmark, decodeOptions{routingOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if b.ResourceVersion != "9" || b.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
		t.Errorf("bookmark lost what the reflector reads: %+v", b.slimMeta)
	}
	if _, err := compactFromJSON([]byte(`{"metadata":`), decodeOptions{}); err == nil {
		t.Error("broken JSON accepted")
	}
}

func TestRawWatcherDecodesTheStream(t *testing.T) {
	stream := `{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"ns","resourceVersion":"5"}}}
{"type":"BOOKMARK","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"resourceVersion":"6"}}}
{"type":"DELETED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b","namespace":"ns","uid":"u2","resourceVersion":"7","labels":{"kro.run/instance-id":"i1"},"annotations":{"internal.kro.run/apply-order":"2"},"managedFields":[{"manager":"trellis","operation":"Apply"}]},"data":{"x":"y"}}}
{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 1 (6)","reason":"Expired","code":410}}
`
	w := &rawWatcher{body: io.NopCloser(strings.NewReader(stream)), result: make(chan watch.Event), done: make(chan struct{}), opts: decodeOptions{routingOnly: true}}
	go w.run()
	var got []watch.Event
	for e := range w.result {
		got = append(got, e)
	}
	if len(got) != 4 {
		t.Fatalf("events = %d, want 4", len(got))
	}
	if c, ok := got[0].Object.(*compact); got[0].Type != watch.Added || !ok || c.Name != "a" || c.ResourceVersion != "5" {
		t.Errorf("first event = %v %#v", got[0].Type, got[0].Object)
	}
	if c, ok := got[1].Object.(*compact); got[1].Type != watch.Bookmark || !ok || c.ResourceVersion != "6" {
		t.Errorf("bookmark = %v %#v", got[1].Type, got[1].Object)
	}
	// A delete event keeps the metadata the handlers and the store read,
	// and not the object's JSON.
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	if c, ok := got[2].Object.(*compact); got[2].Type != watch.Deleted || !ok || c.raw != nil || c.Kind != "ConfigMap" || c.ResourceVersion != "7" {
		t.Errorf("delete event = %v %#v", got[2].Type, got[2].Object)
	} else if ch, _ := childOf(cms, c); ch != (child{gvr: cms, namespace: "ns", name: "b", uid: "u2", instanceID: "i1", order: 2}) {
		t.Errorf("deleted child = %+v", ch)
	}
	got = append(got[:2], got[3])
	if st, ok := got[2].Object.(*metav1.Status); got[2].Type != watch.Error || !ok || !apierrors.IsResourceExpired(apierrors.FromObject(st)) {
		t.Errorf("error event = %v %#v", got[2].Type, got[2].Object)
	}
	w.Stop()
	w.Stop() // idempotent
}

// The JSON kept is the object without managedFields, whatever its keys
// (top-level and metadata keys are written anew, nested values verbatim).
func TestCompactJSONRoundTrip(t *testing.T) {
	raw := []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"managedFields":[{"manager":"m"}],"name":"a","labels":{"a/b":"c"},"x\tmeta":"t"},
		"data":{"we\"ird\\key":"\u00fc","ключ":"v","tab\tkey":"x","html<&>":"y"},"list":[1,2.5,{"n":null}],
		"top\"quote":1,"back\\slash":2,"ünï":3,"html<&>":4}`)
	c, err := compactFromJSON(raw, decodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	delete(want["metadata"].(map[string]any), "managedFields")
	if err := json.Unmarshal(c.raw, &got); err != nil {
		t.Fatalf("kept JSON is invalid: %v\n%s", err, c.raw)
	}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("kept JSON differs:\n got %v\nwant %v", got, want)
	}
	again, _ := compactFromJSON(raw, decodeOptions{})
	if string(again.raw) != string(c.raw) {
		t.Error("the same object decodes to different JSON")
	}
}

// A child's watch event as the API server sends it, managed fields included.
var benchEvent = []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"app-00042-endpoints","namespace":"bench","uid":"0f6c9c51-8a55-4c55-9d1c-2f5f8c2d8a11","resourceVersion":"123456","creationTimestamp":"2026-11-22T07:09:00Z","labels":{"kro.run/instance-id":"f73e6d78-428d-4e78-8e53-ddec1c8d6169","kro.run/instance-name":"app-00042","kro.run/node-id":"endpoints","kro.run/owned":"true"},"annotations":{"internal.kro.run/apply-order":"1","trellis.dev/desired-hash":"94df72728a7179442d983713"},"managedFields":[{"manager":"trellis","operation":"Update","apiVersion":"v1","time":"2026-11-22T07:09:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:data":{".":{},"f:CONFIG":{},"f:SA":{},"f:SERVICE_IP":{}},"f:metadata":{"f:annotations":{".":{},"f:internal.kro.run/apply-order":{},"f:trellis.dev/desired-hash":{}},"f:labels":{".":{},"f:kro.run/instance-id":{},"f:kro.run/instance-name":{},"f:kro.run/node-id":{},"f:kro.run/owned":{}}}}}]},"data":{"CONFIG":"app-00042-config","SA":"app-00042","SERVICE_IP":"10.96.12.34"}}`)

func BenchmarkCompactFromJSON(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEvent)))
	for b.Loop() {
		if _, err := compactFromJSON(benchEvent, decodeOptions{routingOnly: true, fieldManager: "trellis"}); err != nil {
			b.Fatal(err)
		}
	}
}

// The kept JSON lives as long as the cache entry: it must not hold on to
// the room the managed fields took in the event.
func TestCompactJSONIsSizedToFit(t *testing.T) {
	c, err := compactFromJSON(benchEvent, decodeOptions{routingOnly: true, fieldManager: "trellis"})
	if err != nil {
		t.Fatal(err)
	}
	if cap(c.raw) != len(c.raw) {
		t.Errorf("kept JSON: len %d, cap %d (the event was %d bytes)", len(c.raw), cap(c.raw), len(benchEvent))
	}
}

// A delete event without apiVersion/kind gets the informer's, as a list
// item does.
func TestCompactMetaTakesTheInformersKind(t *testing.T) {
	c, err := compactMetaFromJSON([]byte(`{"metadata":{"name":"a","namespace":"ns"}}`), decodeOptions{apiVersion: "v1", kind: "ConfigMap"})
	if err != nil {
		t.Fatal(err)
	}
	if c.APIVersion != "v1" || c.Kind != "ConfigMap" || c.Name != "a" {
		t.Errorf("compact = %#v", c)
	}
}
