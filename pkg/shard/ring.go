// Package shard splits trellis's instances across replicas. The 64-bit
// FNV-1a hash space of instance UIDs (the hash Kubernetes' sharded
// list/watch uses, k8s.io/apimachinery/pkg/sharding) is cut into 64 equal
// buckets; each live replica (one coordination.k8s.io Lease each) owns the
// buckets it wins by rendezvous hashing, so a replica joining or leaving
// moves only the buckets it wins or held. A Set of buckets is a bit mask.
//
// This file is pure: no client. ring_lease.go keeps the Leases and hands
// buckets over between replicas.
package shard

import (
	"fmt"
	"hash/fnv"
	"math/bits"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/sharding"
)

// Buckets is the number of buckets the hash space is cut into (the most
// replicas that can share the work).
const Buckets = 64

// bucketShift turns a 64-bit hash into its bucket (the top 6 bits).
const bucketShift = 64 - 6

// Set is a set of buckets: bit i is bucket i.
type Set uint64

// All is every bucket.
const All Set = ^Set(0)

// Has reports whether bucket b is in s.
func (s Set) Has(b int) bool { return s&(1<<uint(b)) != 0 }

// Len is the number of buckets in s.
func (s Set) Len() int { return bits.OnesCount64(uint64(s)) }

// String is the set as hex, the form stored on a Lease.
func (s Set) String() string { return strconv.FormatUint(uint64(s), 16) }

// ParseSet reads a Set written by String.
func ParseSet(v string) (Set, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("bucket set %q: %w", v, err)
	}
	return Set(n), nil
}

// Hash is the 64-bit FNV-1a hash of a UID, as the API server computes it
// for shardRange(object.metadata.uid, …).
func Hash(uid string) uint64 {
	n, _ := strconv.ParseUint(sharding.HashField(uid), 16, 64)
	return n
}

// BucketOf is the bucket of an object by its UID (an instance) or by its
// instance's UID (a child, through its kro.run/instance-id label).
func BucketOf(uid string) int { return int(Hash(uid) >> bucketShift) }

// Contains reports whether the object with this UID falls in s.
func (s Set) Contains(uid string) bool { return s.Has(BucketOf(uid)) }

// Selector is the shard selector (metav1.ListOptions.ShardSelector) of s
// over field, e.g. "object.metadata.uid": adjacent buckets become one
// shardRange, ranges are joined with ||. The empty set has no selector
// (an empty selector would select everything): ok is false.
func (s Set) Selector(field string) (sel string, ok bool) {
	var parts []string
	for b := 0; b < Buckets; {
		if !s.Has(b) {
			b++
			continue
		}
		start := b
		for b < Buckets && s.Has(b) {
			b++
		}
		parts = append(parts, fmt.Sprintf("shardRange(%s, '%s', '%s')", field, bound(start), bound(b)))
	}
	return strings.Join(parts, " || "), len(parts) > 0
}

// bound is the hex lower bound of bucket b (b = Buckets: 2^64), in the
// normalised form the API server compares.
func bound(b int) string {
	if b >= Buckets {
		return "0x10000000000000000"
	}
	return fmt.Sprintf("0x%016x", uint64(b)<<bucketShift)
}

// Assign gives every bucket to one of members (replica identities) by
// rendezvous hashing: the member with the highest hash of (member, bucket)
// wins. A member that leaves loses exactly its buckets, spread over the
// others; one that joins takes about 1/N from each. No members: empty.
func Assign(members []string) map[string]Set {
	out := make(map[string]Set, len(members))
	if len(members) == 0 {
		return out
	}
	sorted := append([]string(nil), members...)
	sort.Strings(sorted) // ties (never in practice) go the same way everywhere
	for b := 0; b < Buckets; b++ {
		var best string
		var bestScore uint64
		for i, m := range sorted {
			if sc := score(m, b); i == 0 || sc > bestScore {
				best, bestScore = m, sc
			}
		}
		out[best] |= 1 << uint(b)
	}
	return out
}

func score(member string, bucket int) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(member))
	_, _ = h.Write([]byte{0, byte(bucket)})
	// FNV's last bytes mix poorly into the high bits: finish with a
	// 64-bit mixer (splitmix64's) so the winners spread evenly.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
