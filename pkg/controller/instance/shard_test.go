package instance

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/watch"

	"github.com/trellis-dev/trellis/pkg/shard"
)

// twoBuckets returns two UIDs in different buckets.
func twoBuckets() (a, b string) {
	a = "uid-0"
	for i := 1; ; i++ {
		b = fmt.Sprintf("uid-%d", i)
		if shard.BucketOf(b) != shard.BucketOf(a) {
			return a, b
		}
	}
}

// A replica's watch drops the children of instances outside its buckets
// before they reach the cache; bookmarks pass.
func TestRawWatcherKeepsItsShard(t *testing.T) {
	mine, theirs := twoBuckets()
	set := shard.Set(1) << uint(shard.BucketOf(mine))
	child := func(name, id string) string {
		return fmt.Sprintf(`{"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"namespace":"ns","resourceVersion":"1","labels":{"kro.run/instance-id":%q}}}}`, name, id)
	}
	stream := child("a", mine) + child("b", theirs) + `{"type":"BOOKMARK","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"resourceVersion":"9"}}}`
	opts := decodeOptions{routingOnly: true, keep: func(c *compact) bool { return set.Contains(c.instanceID) }}
	w := &rawWatcher{body: io.NopCloser(strings.NewReader(stream)), result: make(chan watch.Event), done: make(chan struct{}), opts: opts}
	go w.run()
	var got []string
	for ev := range w.result {
		got = append(got, string(ev.Type)+" "+ev.Object.(*compact).Name+ev.Object.(*compact).ResourceVersion)
	}
	if want := []string{"ADDED a1", "BOOKMARK 9"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events = %v, want %v", got, want)
	}
}

// Reconciles of instances outside the served buckets are refused; Drain
// waits for the running ones of the buckets it is given.
func TestShardGate(t *testing.T) {
	mine, theirs := twoBuckets()
	g := &shardGate{served: shard.Set(1) << uint(shard.BucketOf(mine))}
	if _, ok := g.enter(theirs); ok {
		t.Fatal("a reconcile of another replica's instance was admitted")
	}
	done, ok := g.enter(mine)
	if !ok {
		t.Fatal("a reconcile of a served instance was refused")
	}
	if _, ok := g.enter(""); !ok {
		t.Error("an instance not in the cache must be admitted (its reconcile only forgets it)")
	}
	c := &Controller{shard: g}
	drained := make(chan struct{})
	go func() {
		c.Drain(context.Background(), g.served)
		close(drained)
	}()
	select {
	case <-drained:
		t.Fatal("Drain returned while a reconcile of the bucket ran")
	case <-time.After(100 * time.Millisecond):
	}
	done()
	<-drained
	c.Drain(context.Background(), shard.Set(1)<<uint(shard.BucketOf(theirs))) // nothing runs there: returns at once
}
