package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// floorGVR is the FloorApp CRD: the floor's instance object, an ordinary
// namespaced custom resource with a status subresource, like BenchApp.
var floorGVR = schema.GroupVersionResource{Group: "bench.trellis.dev", Version: "v1alpha1", Resource: "floorapps"}

// floorCRD mirrors the shape of the CRD trellis generates for BenchApp.
func floorCRD() *extv1.CustomResourceDefinition {
	str := extv1.JSONSchemaProps{Type: "string"}
	return &extv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "floorapps.bench.trellis.dev"},
		Spec: extv1.CustomResourceDefinitionSpec{
			Group: floorGVR.Group,
			Names: extv1.CustomResourceDefinitionNames{Plural: "floorapps", Singular: "floorapp", Kind: "FloorApp", ListKind: "FloorAppList"},
			Scope: extv1.NamespaceScoped,
			Versions: []extv1.CustomResourceDefinitionVersion{{
				Name: floorGVR.Version, Served: true, Storage: true,
				Subresources: &extv1.CustomResourceSubresources{Status: &extv1.CustomResourceSubresourceStatus{}},
				Schema: &extv1.CustomResourceValidation{OpenAPIV3Schema: &extv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]extv1.JSONSchemaProps{
						"apiVersion": str, "kind": str, "metadata": {Type: "object"},
						"spec": {Type: "object", Properties: map[string]extv1.JSONSchemaProps{
							"name": str,
							"port": {Type: "integer", Default: &extv1.JSON{Raw: []byte("8080")}},
							"env":  {Type: "string", Default: &extv1.JSON{Raw: []byte(`"dev"`)}},
						}},
						"status": {Type: "object", Properties: map[string]extv1.JSONSchemaProps{
							"state": str, "clusterIP": str, "configName": str,
						}},
					},
				}},
			}},
		},
	}
}

// installFloorCRD creates the FloorApp CRD (if missing) and waits until it is served.
func installFloorCRD(ctx context.Context, c apiextclient.Interface) error {
	return ensureCRD(ctx, c, floorCRD())
}

func ensureCRD(ctx context.Context, c apiextclient.Interface, crd *extv1.CustomResourceDefinition) error {
	api := c.ApiextensionsV1().CustomResourceDefinitions()
	if _, err := api.Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create CRD %s: %w", crd.Name, err)
	}
	return waitCRD(ctx, c, crd.Name)
}

func waitCRD(ctx context.Context, c apiextclient.Interface, name string) error {
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := c.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == extv1.Established && cond.Status == extv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

// floorClient does by hand, per instance, exactly the writes a perfect
// controller would do: create the instance object, its four independent
// children concurrently, the endpoints ConfigMap with the clusterIP read
// from the Service's create response, and one status write.
type floorClient struct {
	kube kubernetes.Interface
	dyn  dynamic.Interface
	ns   string
}

func (f *floorClient) createOne(ctx context.Context, name string) error {
	const port = 8080
	inst := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": floorGVR.GroupVersion().String(), "kind": "FloorApp",
		"metadata": map[string]any{"name": name, "namespace": f.ns},
		"spec":     map[string]any{"name": name},
	}}
	created, err := f.dyn.Resource(floorGVR).Namespace(f.ns).Create(ctx, inst, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create FloorApp %s: %w", name, err)
	}
	var (
		wg        sync.WaitGroup
		errs      [4]error
		clusterIP string
	)
	core := f.kube.CoreV1()
	wg.Add(4)
	go func() {
		defer wg.Done()
		_, errs[0] = core.ConfigMaps(f.ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-config"},
			Data:       map[string]string{"ENV": "dev", "PORT": strconv.Itoa(port)},
		}, metav1.CreateOptions{})
	}()
	go func() {
		defer wg.Done()
		_, errs[1] = core.Secrets(f.ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-secret"},
			StringData: map[string]string{"token": name + "-token"},
		}, metav1.CreateOptions{})
	}()
	go func() {
		defer wg.Done()
		_, errs[2] = core.ServiceAccounts(f.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	}()
	go func() {
		defer wg.Done()
		svc, err := core.Services(f.ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": name},
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(port)}},
			},
		}, metav1.CreateOptions{})
		errs[3] = err
		if err == nil {
			clusterIP = svc.Spec.ClusterIP
		}
	}()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("floor %s: %w", name, err)
		}
	}
	if _, err := core.ConfigMaps(f.ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-endpoints"},
		Data:       map[string]string{"SERVICE_IP": clusterIP, "CONFIG": name + "-config", "SA": name},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("floor %s endpoints: %w", name, err)
	}
	created.Object["status"] = map[string]any{"state": "ACTIVE", "clusterIP": clusterIP, "configName": name + "-endpoints"}
	if _, err := f.dyn.Resource(floorGVR).Namespace(f.ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("floor %s status: %w", name, err)
	}
	return nil
}

// applyOne is createOne with trellis's verbs: the instance is created (the
// user's POST), the children are server-side applied and the status is
// merge-patched. The gap between createOne and applyOne is the apiserver's
// price of server-side apply; the gap between applyOne and trellis is the
// controller's.
func (f *floorClient) applyOne(ctx context.Context, name string) error {
	inst := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": floorGVR.GroupVersion().String(), "kind": "FloorApp",
		"metadata": map[string]any{"name": name, "namespace": f.ns},
		"spec":     map[string]any{"name": name},
	}}
	if _, err := f.dyn.Resource(floorGVR).Namespace(f.ns).Create(ctx, inst, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create FloorApp %s: %w", name, err)
	}
	obj := func(kind, n string, rest map[string]any) *unstructured.Unstructured {
		u := map[string]any{"apiVersion": "v1", "kind": kind, "metadata": map[string]any{"name": n, "namespace": f.ns}}
		for k, v := range rest {
			u[k] = v
		}
		return &unstructured.Unstructured{Object: u}
	}
	apply := func(gvr schema.GroupVersionResource, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
		return f.dyn.Resource(gvr).Namespace(f.ns).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "floor", Force: true})
	}
	children := []struct {
		gvr schema.GroupVersionResource
		obj *unstructured.Unstructured
	}{
		{configMaps, obj("ConfigMap", name+"-config", map[string]any{"data": map[string]any{"ENV": "dev", "PORT": "8080"}})},
		{secrets, obj("Secret", name+"-secret", map[string]any{"stringData": map[string]any{"token": name + "-token"}})},
		{serviceAccounts, obj("ServiceAccount", name, nil)},
		{services, obj("Service", name, map[string]any{"spec": map[string]any{
			"selector": map[string]any{"app": name},
			"ports":    []any{map[string]any{"port": int64(80), "targetPort": int64(8080)}},
		}})},
	}
	var (
		wg        sync.WaitGroup
		errs      [4]error
		clusterIP string
	)
	for i, c := range children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := apply(c.gvr, c.obj)
			errs[i] = err
			if err == nil && c.gvr == services {
				clusterIP, _, _ = unstructured.NestedString(out.Object, "spec", "clusterIP")
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("floor %s: %w", name, err)
		}
	}
	if _, err := apply(configMaps, obj("ConfigMap", name+"-endpoints", map[string]any{"data": map[string]any{
		"SERVICE_IP": clusterIP, "CONFIG": name + "-config", "SA": name}})); err != nil {
		return fmt.Errorf("floor %s endpoints: %w", name, err)
	}
	patch := fmt.Sprintf(`{"status":{"state":"ACTIVE","clusterIP":%q,"configName":%q}}`, clusterIP, name+"-endpoints")
	if _, err := f.dyn.Resource(floorGVR).Namespace(f.ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("floor %s status: %w", name, err)
	}
	return nil
}

// deleteOne deletes the instance object and its five children concurrently.
// labelConfig makes the RGD change's edit by hand: ChangeLabel on the
// instance's config ConfigMap, one merge patch.
func (f *floorClient) labelConfig(ctx context.Context, name string) error {
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"floor"}}}`, ChangeLabel)
	_, err := f.kube.CoreV1().ConfigMaps(f.ns).Patch(ctx, name+"-config", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

func (f *floorClient) deleteOne(ctx context.Context, name string) error {
	type del func() error
	core := f.kube.CoreV1()
	o := metav1.DeleteOptions{}
	dels := []del{
		func() error { return f.dyn.Resource(floorGVR).Namespace(f.ns).Delete(ctx, name, o) },
		func() error { return core.ConfigMaps(f.ns).Delete(ctx, name+"-endpoints", o) },
		func() error { return core.ConfigMaps(f.ns).Delete(ctx, name+"-config", o) },
		func() error { return core.Secrets(f.ns).Delete(ctx, name+"-secret", o) },
		func() error { return core.ServiceAccounts(f.ns).Delete(ctx, name, o) },
		func() error { return core.Services(f.ns).Delete(ctx, name, o) },
	}
	errs := make([]error, len(dels))
	var wg sync.WaitGroup
	for i, d := range dels {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = d() }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// forEach runs fn over names with `workers` goroutines and returns the
// first error.
func forEach(ctx context.Context, names []string, workers int, fn func(context.Context, string) error) error {
	if workers < 1 {
		workers = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan string)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				if err := fn(ctx, n); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for _, n := range names {
		select {
		case next <- n:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}
