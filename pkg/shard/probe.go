package shard

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// FieldUID is the shard selector field instances are split by.
const FieldUID = "object.metadata.uid"

// ServerSide reports whether the API server selects by shard
// (metav1.ListOptions.ShardSelector, feature gate ShardedListAndWatch): a
// server without the gate ignores the selector and answers with every
// object, so a list's metadata.shardInfo is the sign.
func ServerSide(ctx context.Context, kube kubernetes.Interface, namespace string) (bool, error) {
	sel, _ := All.Selector(FieldUID)
	l, err := kube.CoordinationV1().Leases(namespace).List(ctx, metav1.ListOptions{ShardSelector: sel, Limit: 1})
	if err != nil {
		return false, err
	}
	return l.ShardInfo != nil, nil
}
