package shard

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/sharding"
	"k8s.io/apimachinery/pkg/util/uuid"
	apisharding "k8s.io/apiserver/pkg/sharding"
)

func TestAssignCoversEveryBucketOnce(t *testing.T) {
	for n := 1; n <= 8; n++ {
		var members []string
		for i := 0; i < n; i++ {
			members = append(members, fmt.Sprintf("trellis-%d", i))
		}
		var union Set
		total := 0
		for _, s := range Assign(members) {
			if union&s != 0 {
				t.Fatalf("%d members: a bucket assigned twice", n)
			}
			union |= s
			total += s.Len()
		}
		if union != All || total != Buckets {
			t.Fatalf("%d members: buckets covered %x (%d), want all 64", n, uint64(union), total)
		}
	}
}

func TestAssignMovesOnlyWhatItMust(t *testing.T) {
	three := Assign([]string{"a", "b", "c"})
	four := Assign([]string{"a", "b", "c", "d"})
	for _, m := range []string{"a", "b", "c"} {
		if lost := three[m] &^ four[m]; lost&^four["d"] != 0 {
			t.Errorf("%s lost buckets %x to someone other than the new member", m, uint64(lost))
		}
		if four[m]&^three[m] != 0 {
			t.Errorf("%s gained buckets when a member joined", m)
		}
	}
	if n := four["d"].Len(); n < 8 || n > 24 {
		t.Errorf("new member got %d of 64 buckets, want about 16", n)
	}
	// The order members are listed in does not matter.
	if again := Assign([]string{"c", "a", "b"}); again["a"] != three["a"] || again["c"] != three["c"] {
		t.Error("assignment depends on the order of members")
	}
}

func TestAssignBalance(t *testing.T) {
	got := Assign([]string{"trellis-7c9f-x1", "trellis-7c9f-x2", "trellis-7c9f-x3"})
	for m, s := range got {
		if s.Len() < 12 || s.Len() > 31 {
			t.Errorf("%s has %d buckets of 64, want 21±9", m, s.Len())
		}
	}
}

// The selector parses as the API server parses it and selects exactly the
// UIDs whose bucket is in the set.
func TestSelectorMatchesBucketOf(t *testing.T) {
	sets := []Set{All, 1, 1 << 63, 0b1011 << 20, Assign([]string{"a", "b", "c"})["b"]}
	for _, s := range sets {
		expr, ok := s.Selector("object.metadata.uid")
		if !ok {
			t.Fatalf("%x: no selector", uint64(s))
		}
		sel, err := apisharding.Parse(expr)
		if err != nil {
			t.Fatalf("%x: API server rejects %q: %v", uint64(s), expr, err)
		}
		for i := 0; i < 2000; i++ {
			obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{UID: uuid.NewUUID()}}
			uid := string(obj.UID)
			match, err := sel.Matches(obj)
			if err != nil {
				t.Fatal(err)
			}
			if match != s.Contains(uid) {
				t.Fatalf("%x: uid %s (hash %s): server says %v, Contains says %v", uint64(s), uid, sharding.HashField(uid), match, s.Contains(uid))
			}
		}
	}
	if _, ok := Set(0).Selector("object.metadata.uid"); ok {
		t.Error("the empty set must have no selector (an empty one selects everything)")
	}
}

func TestParseSet(t *testing.T) {
	s := Assign([]string{"a", "b"})["a"]
	got, err := ParseSet(s.String())
	if err != nil || got != s {
		t.Fatalf("round trip %x: got %x, %v", uint64(s), uint64(got), err)
	}
	if _, err := ParseSet("zz"); err == nil {
		t.Error("ParseSet accepted junk")
	}
}
