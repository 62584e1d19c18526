package instance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// BenchmarkCacheMemory reports what one BenchApp instance and one of its
// children cost in the controller's caches: the compact objects in the
// informer stores and the child index, built from objects as a real API
// server serves them (testdata/cache, captured from `trellis bench`: one
// ACTIVE BenchApp and its five children, managedFields included). Run:
//
//	go test -run '^$' -bench CacheMemory -benchtime 1x ./pkg/controller/instance/
func BenchmarkCacheMemory(b *testing.B) {
	const n = 5000
	inst := readFixture(b, "benchapp.json")
	var children [][]byte
	var childGVRs []schema.GroupVersionResource
	for _, f := range []struct {
		file string
		gvr  schema.GroupVersionResource
	}{
		{"configmap-config.json", schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}},
		{"configmap-endpoints.json", schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}},
		{"secret.json", schema.GroupVersionResource{Version: "v1", Resource: "secrets"}},
		{"serviceaccount.json", schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}},
		{"service.json", schema.GroupVersionResource{Version: "v1", Resource: "services"}},
	} {
		children = append(children, readFixture(b, f.file))
		childGVRs = append(childGVRs, f.gvr)
	}
	name, uid := fixtureIdentity(b, inst)
	// Every copy gets its own name and UIDs, as N distinct objects would.
	variant := func(raw []byte, i, j int) []byte {
		raw = bytes.ReplaceAll(raw, []byte(name), []byte(fmt.Sprintf("bench-%06d", i)))
		_, own := fixtureIdentity(b, raw)
		raw = bytes.ReplaceAll(raw, []byte(own), []byte(fmt.Sprintf("00000000-0000-0000-%04d-%012d", j, i)))
		return bytes.ReplaceAll(raw, []byte(uid), []byte(fmt.Sprintf("00000000-0000-0000-9999-%012d", i)))
	}
	for b.Loop() {
		instStore := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc, cache.Indexers{})
		childStores := map[schema.GroupVersionResource]cache.Indexer{}
		index := newChildIndex()
		h0 := heap()
		for i := 0; i < n; i++ {
			c, err := compactFromJSON(variant(inst, i, 9999), decodeOptions{})
			if err != nil {
				b.Fatal(err)
			}
			_ = instStore.Add(c)
		}
		h1 := heap()
		for i := 0; i < n; i++ {
			for j, raw := range children {
				c, err := compactFromJSON(variant(raw, i, j), decodeOptions{routingOnly: true, fieldManager: "trellis"})
				if err != nil {
					b.Fatal(err)
				}
				gvr := childGVRs[j]
				if childStores[gvr] == nil {
					childStores[gvr] = cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc, cache.Indexers{})
				}
				_ = childStores[gvr].Add(c)
				index.update(gvr, c, nil, false)
			}
		}
		h2 := heap()
		b.ReportMetric(float64(h1-h0)/n, "B/instance")
		b.ReportMetric(float64(h2-h1)/float64(n*len(children)), "B/child")
		runtime.KeepAlive(instStore)
		runtime.KeepAlive(childStores)
		runtime.KeepAlive(index)
	}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func readFixture(b *testing.B, name string) []byte {
	raw, err := os.ReadFile(filepath.Join("testdata", "cache", name))
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// fixtureIdentity returns an object's name and UID.
func fixtureIdentity(b *testing.B, raw []byte) (string, types.UID) {
	var o struct {
		Metadata struct {
			Name string    `json:"name"`
			UID  types.UID `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		b.Fatal(err)
	}
	return o.Metadata.Name, o.Metadata.UID
}
