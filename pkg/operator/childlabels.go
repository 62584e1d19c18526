package operator

import trt "github.com/trellis-dev/trellis/pkg/runtime"

// ChildLabelsUsage documents --child-labels wherever it is bound.
const ChildLabelsUsage = `labels on children: "lean" (kro.run/owned, instance-name, instance-id, node-id) or "kro" (all of kro's labels)`

// ChildLabelsFlag is a --child-labels value (pflag.Value), checked when parsed.
type ChildLabelsFlag struct{ V *trt.ChildLabelSet }

func (f ChildLabelsFlag) String() string {
	if f.V == nil || *f.V == "" {
		return string(trt.ChildLabelsLean)
	}
	return string(*f.V)
}

func (f ChildLabelsFlag) Set(s string) error {
	v, err := trt.ParseChildLabelSet(s)
	if err == nil {
		*f.V = v
	}
	return err
}

func (ChildLabelsFlag) Type() string { return "string" }
