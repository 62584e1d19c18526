package graph

import (
	"container/heap"
	"fmt"
	"strings"
)

// sortTopologically orders ids so every node comes after its dependencies;
// among nodes that are free at the same time, declaration order wins. deps
// maps an id to the ids it reads; index gives the declaration order.
func sortTopologically(ids []string, deps map[string][]string) ([]string, error) {
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		index[id] = i
	}
	indegree := make(map[string]int, len(ids))
	dependents := make(map[string][]string, len(ids))
	for _, id := range ids {
		for _, d := range deps[id] {
			if d == id {
				return nil, fmt.Errorf("resource %q references itself: self references are not allowed", id)
			}
			indegree[id]++
			dependents[d] = append(dependents[d], id)
		}
	}
	q := &idHeap{index: index}
	for _, id := range ids {
		if indegree[id] == 0 {
			heap.Push(q, id)
		}
	}
	order := make([]string, 0, len(ids))
	for q.Len() > 0 {
		id := heap.Pop(q).(string)
		order = append(order, id)
		for _, d := range dependents[id] {
			indegree[d]--
			if indegree[d] == 0 {
				heap.Push(q, d)
			}
		}
	}
	if len(order) != len(ids) {
		return nil, fmt.Errorf("graph contains a cycle: %s", strings.Join(findCycle(ids, deps), " -> "))
	}
	return order, nil
}

// findCycle returns one cycle as a path that starts and ends at the same id.
func findCycle(ids []string, deps map[string][]string) []string {
	const (
		unvisited = iota
		onStack
		done
	)
	state := make(map[string]int, len(ids))
	var stack []string
	var cycle []string
	var visit func(id string) bool
	visit = func(id string) bool {
		state[id] = onStack
		stack = append(stack, id)
		for _, d := range deps[id] {
			switch state[d] {
			case onStack:
				for i, s := range stack {
					if s == d {
						cycle = append(append([]string{}, stack[i:]...), d)
						return true
					}
				}
			case unvisited:
				if visit(d) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
		return false
	}
	for _, id := range ids {
		if state[id] == unvisited && visit(id) {
			// "a -> b" reads: a depends on b.
			return cycle
		}
	}
	return nil
}

type idHeap struct {
	ids   []string
	index map[string]int
}

func (h idHeap) Len() int           { return len(h.ids) }
func (h idHeap) Less(i, j int) bool { return h.index[h.ids[i]] < h.index[h.ids[j]] }
func (h idHeap) Swap(i, j int)      { h.ids[i], h.ids[j] = h.ids[j], h.ids[i] }
func (h *idHeap) Push(x any)        { h.ids = append(h.ids, x.(string)) }
func (h *idHeap) Pop() any {
	old := h.ids
	x := old[len(old)-1]
	h.ids = old[:len(old)-1]
	return x
}
