package chaos

import (
	"fmt"
	"sort"
)

// object is what the checks need of an instance or a child.
type object struct {
	Resource   string // plural, e.g. "configmaps"
	Name       string
	Labels     map[string]string
	State      string // instances: status.state
	Deleting   bool   // deletionTimestamp set
	Finalizers []string
}

// Children labels (kro's): which instance a child belongs to and which
// resource of the RGD it is.
const (
	labelInstanceName = "kro.run/instance-name"
	labelNodeID       = "kro.run/node-id"
)

// expectedChildren are the children of one BenchApp (pkg/bench.RGD), by
// resource node id.
func expectedChildren(instance string) map[string]object {
	return map[string]object{
		"config":    {Resource: "configmaps", Name: instance + "-config"},
		"secret":    {Resource: "secrets", Name: instance + "-secret"},
		"sa":        {Resource: "serviceaccounts", Name: instance},
		"service":   {Resource: "services", Name: instance},
		"endpoints": {Resource: "configmaps", Name: instance + "-endpoints"},
	}
}

// findings are the check results of one phase.
type findings struct {
	Lost, Duplicates, Orphans, Finalizers int
	// Examples names a few of the problems, for the report's note.
	Examples []string
}

func (f *findings) example(format string, args ...any) {
	if len(f.Examples) < 3 {
		f.Examples = append(f.Examples, fmt.Sprintf(format, args...))
	}
}

// checkWorkload compares the instances and children found in a namespace
// with what should be there: want are the instances that must exist and be
// ACTIVE with all their children (nil after a deletion: nothing may remain);
// label, if not empty, must be on every instance's config ConfigMap (an RGD
// change reached it). Children are matched to instances by kro's labels, so
// a second object for one (instance, node) is a duplicate and a child of no
// wanted instance an orphan.
func checkWorkload(want []string, label string, instances, children []object) findings {
	var f findings
	wanted := map[string]bool{}
	for _, n := range want {
		wanted[n] = true
	}
	seen := map[string]object{}
	for _, o := range instances {
		seen[o.Name] = o
		if o.Deleting {
			f.Finalizers++
			f.example("instance %s stuck deleting (finalizers %v)", o.Name, o.Finalizers)
		}
		if !wanted[o.Name] && !o.Deleting {
			f.Lost++ // should be gone
			f.example("instance %s not deleted", o.Name)
		}
	}
	byNode := map[string][]object{}
	for _, c := range children {
		inst, node := c.Labels[labelInstanceName], c.Labels[labelNodeID]
		if c.Deleting {
			f.Finalizers++
			f.example("%s/%s stuck deleting (finalizers %v)", c.Resource, c.Name, c.Finalizers)
		}
		exp, ok := expectedChildren(inst)[node]
		if !wanted[inst] || !ok || exp.Resource != c.Resource {
			f.Orphans++
			f.example("orphan %s/%s (instance %q, node %q)", c.Resource, c.Name, inst, node)
			continue
		}
		byNode[inst+"/"+node] = append(byNode[inst+"/"+node], c)
	}
	names := append([]string(nil), want...)
	sort.Strings(names)
	for _, n := range names {
		o, ok := seen[n]
		if !ok || o.State != "ACTIVE" {
			f.Lost++
			f.example("instance %s is %q", n, o.State)
		}
		for node, exp := range expectedChildren(n) {
			got := byNode[n+"/"+node]
			if len(got) > 1 {
				f.Duplicates += len(got) - 1
				f.example("instance %s has %d %s", n, len(got), node)
			}
			var named *object
			for i := range got {
				if got[i].Name == exp.Name {
					named = &got[i]
				}
			}
			switch {
			case named == nil:
				f.Lost++
				f.example("instance %s has no %s", n, node)
			case node == "config" && label != "" && !hasLabel(named.Labels, label):
				f.Lost++
				f.example("%s's config lacks %s", n, label)
			}
		}
	}
	return f
}

// hasLabel reports whether labels carry key=value.
func hasLabel(labels map[string]string, kv string) bool {
	for k, v := range labels {
		if k+"="+v == kv {
			return true
		}
	}
	return false
}
