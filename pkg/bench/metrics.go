package bench

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Sample is one line of a Prometheus text exposition: labels and value.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// ParseMetric reads a Prometheus text exposition and returns the samples of
// one metric family (exact name, no _bucket/_sum suffixes). Comments and other
// families are skipped.
func ParseMetric(r io.Reader, name string) ([]Sample, error) {
	var out []Sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue // a longer name with the same prefix
		}
		labels := map[string]string{}
		if rest[0] == '{' {
			var err error
			labels, rest, err = parseLabels(rest[1:])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", line, err)
			}
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("%s: no value", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", line, err)
		}
		out = append(out, Sample{Labels: labels, Value: v})
	}
	return out, sc.Err()
}

// parseLabels parses `a="x",b="y"}` and returns the labels and the text after '}'.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || len(s) < eq+2 || s[eq+1] != '"' {
			return nil, "", fmt.Errorf("malformed labels")
		}
		key := strings.TrimSpace(s[:eq])
		s = s[eq+2:]
		var b strings.Builder
		i := 0
		for ; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(s[i])
				}
				continue
			}
			if c == '"' {
				break
			}
			b.WriteByte(c)
		}
		if i >= len(s) {
			return nil, "", fmt.Errorf("unterminated label value")
		}
		labels[key] = b.String()
		s = s[i+1:]
	}
}

// RequestKey is the part of apiserver_request_total's labels the benchmark
// keeps. The apiserver's labels are verb, dry_run, group, version, resource,
// subresource, scope, component and code; "component" is the serving
// component ("apiserver"), not the client, so clients cannot be told apart
// from these counters — the benchmark filters by resource instead.
type RequestKey struct {
	Group       string `json:"group,omitempty"`
	Resource    string `json:"resource"`
	Subresource string `json:"subresource,omitempty"`
	Verb        string `json:"verb"`
	Code        string `json:"code"`
}

// Requests counts apiserver requests by key.
type Requests map[RequestKey]float64

// RequestsFromSamples folds apiserver_request_total samples into Requests
// (dry-run requests are dropped: they write nothing).
func RequestsFromSamples(samples []Sample) Requests {
	out := Requests{}
	for _, s := range samples {
		if s.Labels["dry_run"] != "" {
			continue
		}
		k := RequestKey{
			Group:       s.Labels["group"],
			Resource:    s.Labels["resource"],
			Subresource: s.Labels["subresource"],
			Verb:        s.Labels["verb"],
			Code:        s.Labels["code"],
		}
		out[k] += s.Value
	}
	return out
}

// Sub returns r - before, dropping zero entries.
func (r Requests) Sub(before Requests) Requests {
	out := Requests{}
	for k, v := range r {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// MutatingVerbs are the verbs apiserver_request_total uses for writes. A
// server-side apply is counted as APPLY, not PATCH.
var MutatingVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true}

// Mutating keeps the writes among r.
func (r Requests) Mutating() Requests {
	out := Requests{}
	for k, v := range r {
		if MutatingVerbs[k.Verb] {
			out[k] = v
		}
	}
	return out
}

// Resources keeps the requests on the given resources (plural names).
func (r Requests) Resources(names ...string) Requests {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := Requests{}
	for k, v := range r {
		if want[k.Resource] {
			out[k] = v
		}
	}
	return out
}

// Without drops the requests on the given resources.
func (r Requests) Without(names ...string) Requests {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	out := Requests{}
	for k, v := range r {
		if !drop[k.Resource] {
			out[k] = v
		}
	}
	return out
}

// Total sums all counts.
func (r Requests) Total() float64 {
	var t float64
	for _, v := range r {
		t += v
	}
	return t
}

// Line is one row of a request breakdown.
type Line struct {
	Resource string  `json:"resource"`
	Verb     string  `json:"verb"`
	Code     string  `json:"code,omitempty"`
	Count    float64 `json:"count"`
}

// Breakdown sums r by resource[/subresource], verb and code, largest first.
func (r Requests) Breakdown() []Line {
	sum := map[Line]float64{}
	for k, v := range r {
		res := k.Resource
		if k.Subresource != "" {
			res += "/" + k.Subresource
		}
		sum[Line{Resource: res, Verb: k.Verb, Code: k.Code}] += v
	}
	out := make([]Line, 0, len(sum))
	for l, v := range sum {
		l.Count = v
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		if out[i].Resource != out[j].Resource {
			return out[i].Resource < out[j].Resource
		}
		if out[i].Verb != out[j].Verb {
			return out[i].Verb < out[j].Verb
		}
		return out[i].Code < out[j].Code
	})
	return out
}

// ClientWrites sums the writes in client-go's rest_client_requests_total
// samples (labels code, host, method), as a process's own /metrics shows them.
func ClientWrites(samples []Sample) float64 {
	var t float64
	for _, s := range samples {
		switch s.Labels["method"] {
		case "POST", "PUT", "PATCH", "DELETE":
			t += s.Value
		}
	}
	return t
}

// QueueCounters are the controller's workqueue counters of one queue
// (client-go workqueue metrics as controller-runtime exposes them).
type QueueCounters struct {
	Adds, Retries        float64
	WorkSum, WorkCount   float64
	QueueSum, QueueCount float64
	// Depth and Unfinished (seconds of work in progress) are gauges.
	Depth, Unfinished float64
}

// ParseQueue reads the counters of the queue named name from a /metrics text.
func ParseQueue(text, name string) (QueueCounters, error) {
	var q QueueCounters
	for metric, dst := range map[string]*float64{
		"workqueue_adds_total":                   &q.Adds,
		"workqueue_retries_total":                &q.Retries,
		"workqueue_work_duration_seconds_sum":    &q.WorkSum,
		"workqueue_work_duration_seconds_count":  &q.WorkCount,
		"workqueue_queue_duration_seconds_sum":   &q.QueueSum,
		"workqueue_queue_duration_seconds_count": &q.QueueCount,
		"workqueue_depth":                        &q.Depth,
		"workqueue_unfinished_work_seconds":      &q.Unfinished,
	} {
		samples, err := ParseMetric(strings.NewReader(text), metric)
		if err != nil {
			return q, err
		}
		for _, s := range samples {
			if s.Labels["name"] == name {
				*dst += s.Value
			}
		}
	}
	return q, nil
}

// Sub returns q - before.
func (q QueueCounters) Sub(before QueueCounters) QueueCounters {
	return QueueCounters{
		Adds: q.Adds - before.Adds, Retries: q.Retries - before.Retries,
		WorkSum: q.WorkSum - before.WorkSum, WorkCount: q.WorkCount - before.WorkCount,
		QueueSum: q.QueueSum - before.QueueSum, QueueCount: q.QueueCount - before.QueueCount,
	}
}
