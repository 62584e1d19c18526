package instance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// The informers list and watch with raw JSON and build compact objects
// straight from the bytes: decoding every event into an unstructured map
// and encoding it again was most of the controller's CPU and garbage.

// NewRawClient is the REST client the informers read through: responses
// are taken as raw JSON, whatever the group.
func NewRawClient(cfg *rest.Config) (rest.Interface, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.APIPath = "/"
	cfg.GroupVersion = &schema.GroupVersion{}
	cfg.AcceptContentTypes, cfg.ContentType = "application/json", "application/json"
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return rest.RESTClientFor(cfg)
}

// resourcePath is the URL path of a resource across all namespaces.
func resourcePath(gvr schema.GroupVersionResource) string {
	if gvr.Group == "" {
		return path.Join("/api", gvr.Version, gvr.Resource)
	}
	return path.Join("/apis", gvr.Group, gvr.Version, gvr.Resource)
}

// compactList is a list of compact objects, as the reflector reads it.
type compactList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []runtime.Object
}

func (l *compactList) DeepCopyObject() runtime.Object { return l }

func listRaw(ctx context.Context, c rest.Interface, gvr schema.GroupVersionResource, o metav1.ListOptions, d decodeOptions) (runtime.Object, error) {
	body, err := c.Get().AbsPath(resourcePath(gvr)).VersionedParams(&o, metav1.ParameterCodec).DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	var raw struct {
		metav1.TypeMeta
		Metadata metav1.ListMeta   `json:"metadata"`
		Items    []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("decoding %s list: %w", gvr.Resource, err)
	}
	list := &compactList{TypeMeta: raw.TypeMeta, ListMeta: raw.Metadata, Items: make([]runtime.Object, 0, len(raw.Items))}
	// Items of built-in lists come without apiVersion and kind.
	d.apiVersion, d.kind = raw.APIVersion, strings.TrimSuffix(raw.Kind, "List")
	for _, item := range raw.Items {
		obj, err := compactFromJSON(item, d)
		if err != nil {
			return nil, fmt.Errorf("decoding %s list: %w", gvr.Resource, err)
		}
		if d.keep != nil && !d.keep(obj) {
			continue
		}
		list.Items = append(list.Items, obj)
	}
	return list, nil
}

func watchRaw(ctx context.Context, c rest.Interface, gvr schema.GroupVersionResource, o metav1.ListOptions, d decodeOptions) (watch.Interface, error) {
	o.Watch = true
	stream, err := c.Get().AbsPath(resourcePath(gvr)).VersionedParams(&o, metav1.ParameterCodec).Stream(ctx)
	if err != nil {
		return nil, err
	}
	w := &rawWatcher{body: stream, result: make(chan watch.Event), done: make(chan struct{}), opts: d}
	go w.run()
	return w, nil
}

// rawWatcher decodes a JSON watch stream into events of compact objects.
type rawWatcher struct {
	body   io.ReadCloser
	result chan watch.Event
	done   chan struct{}
	stop   sync.Once
	opts   decodeOptions
}

func (w *rawWatcher) ResultChan() <-chan watch.Event { return w.result }

func (w *rawWatcher) Stop() {
	w.stop.Do(func() {
		close(w.done)
		w.body.Close()
	})
}

func (w *rawWatcher) run() {
	defer close(w.result)
	defer w.Stop()
	dec := json.NewDecoder(w.body)
	for {
		var ev struct {
			Type   watch.EventType `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			select {
			case <-w.done: // stopped: the read error is ours
			default:
				if err != io.EOF {
					w.send(watch.Event{Type: watch.Error, Object: &apierrors.NewInternalError(fmt.Errorf("watch stream: %w", err)).ErrStatus})
				}
			}
			return
		}
		var obj runtime.Object
		if ev.Type == watch.Error {
			st := &metav1.Status{}
			if err := json.Unmarshal(ev.Object, st); err != nil {
				st = &apierrors.NewInternalError(err).ErrStatus
			}
			obj = st
		} else {
			decode := compactFromJSON
			if ev.Type == watch.Deleted {
				decode = compactMetaFromJSON
			}
			c, err := decode(ev.Object, w.opts)
			if err != nil {
				w.send(watch.Event{Type: watch.Error, Object: &apierrors.NewInternalError(err).ErrStatus})
				return
			}
			if ev.Type != watch.Bookmark && w.opts.keep != nil && !w.opts.keep(c) {
				continue // another replica's
			}
			obj = c
		}
		if !w.send(watch.Event{Type: ev.Type, Object: obj}) {
			return
		}
	}
}

func (w *rawWatcher) send(e watch.Event) bool {
	select {
	case w.result <- e:
		return true
	case <-w.done:
		return false
	}
}

// decodeOptions say what a compact object keeps.
type decodeOptions struct {
	routingOnly  bool   // children: only the routing labels in typed form
	fieldManager string // note whether this manager inherits fields (see inherited)
	// apiVersion and kind fill in objects that lack them (list items).
	apiVersion, kind string
	// keep, if set, drops the objects it refuses (another replica's share).
	keep func(*compact) bool
}

// compactFromJSON builds a compact object from an object's JSON: typed
// metadata, and the JSON without managedFields (never read here, and the
// bulk of most objects).
func compactFromJSON(raw []byte, o decodeOptions) (*compact, error) {
	// One scan of the object, one of its metadata; the JSON kept is put
	// together from the parsed values rather than re-encoded (each
	// re-encoding would validate every value again: this runs for every
	// watch event of every child).
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, err
	}
	c := &compact{}
	if v, ok := top["apiVersion"]; ok {
		if err := json.Unmarshal(v, &c.APIVersion); err != nil {
			return nil, fmt.Errorf("apiVersion: %w", err)
		}
	}
	if v, ok := top["kind"]; ok {
		if err := json.Unmarshal(v, &c.Kind); err != nil {
			return nil, fmt.Errorf("kind: %w", err)
		}
	}
	if c.Kind == "" && o.kind != "" {
		c.APIVersion, c.Kind = o.apiVersion, o.kind
		top["apiVersion"], _ = json.Marshal(c.APIVersion)
		top["kind"], _ = json.Marshal(c.Kind)
	}
	if md, ok := top["metadata"]; ok {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(md, &fields); err != nil {
			return nil, err
		}
		if mf, has := fields["managedFields"]; has {
			if o.fieldManager != "" {
				var entries []struct {
					Manager     string                            `json:"manager"`
					Operation   metav1.ManagedFieldsOperationType `json:"operation"`
					Subresource string                            `json:"subresource"`
				}
				if err := json.Unmarshal(mf, &entries); err != nil {
					return nil, err
				}
				for _, e := range entries {
					if inherited(e.Manager, e.Operation, e.Subresource, o.fieldManager, predecessors) {
						c.updateOwned = true
					}
				}
			}
			delete(fields, "managedFields")
			top["metadata"] = joinObject(fields, nil)
		}
		if err := json.Unmarshal(top["metadata"], &c.slimMeta); err != nil {
			return nil, err
		}
	}
	c.raw = joinObject(top, nil) // sized to fit: it lives as long as the cache entry
	c.trim(o)
	return c, nil
}

// compactMetaFromJSON builds a compact object of the metadata alone, for a
// delete event: the store drops the object by its key and every handler
// reads only metadata, so its JSON is neither split nor kept (a mass
// deletion brings one such event per object).
func compactMetaFromJSON(raw []byte, o decodeOptions) (*compact, error) {
	var obj struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        slimMeta `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	c := &compact{TypeMeta: obj.TypeMeta, slimMeta: obj.Metadata}
	if c.Kind == "" && o.kind != "" { // as compactFromJSON
		c.APIVersion, c.Kind = o.apiVersion, o.kind
	}
	c.trim(o)
	return c, nil
}

// joinObject appends to dst the JSON object of fields (keys sorted), whose
// values are valid JSON already. A nil dst gets exactly the room needed.
func joinObject(fields map[string]json.RawMessage, dst []byte) []byte {
	keys := make([]string, 0, len(fields))
	size := 1 + 2*len(fields) // braces, commas and colons
	for k, v := range fields {
		keys = append(keys, k)
		size += len(k) + 2 + len(v)
	}
	sort.Strings(keys)
	if dst == nil {
		dst = make([]byte, 0, size)
	}
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendKey(dst, k)
		dst = append(dst, ':')
		dst = append(dst, fields[k]...)
	}
	return append(dst, '}')
}

// appendKey appends k as a JSON string: verbatim when nothing in it needs
// escaping, which is every key Kubernetes objects have.
func appendKey(dst []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		if b := k[i]; b < 0x20 || b == '"' || b == '\\' || b >= 0x80 {
			q, _ := json.Marshal(k)
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, k...)
	return append(dst, '"')
}
