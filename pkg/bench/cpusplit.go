package bench

import (
	"fmt"
	"runtime"
	"strings"
)

// CPUSplit is what a phase cost the machine: CPU seconds of the API
// server, etcd and the controller, and the busy cores meanwhile. On the
// benchmark's saturated cores a phase's time follows its total CPU, so this
// says where a ratio comes from.
type CPUSplit struct {
	APIServer  float64 `json:"apiserver_cpu_seconds"`
	Etcd       float64 `json:"etcd_cpu_seconds"`
	Controller float64 `json:"controller_cpu_seconds"`
	BusyCores  float64 `json:"machine_busy_cores"`
}

// Total is the CPU seconds of the three.
func (c *CPUSplit) Total() float64 { return c.APIServer + c.Etcd + c.Controller }

// cpuMark is the counters at a phase's start.
type cpuMark struct {
	api, etcd, ctrl float64
	machine         CPUTimes
	c               Controller
}

// markCPU reads the counters; c is the controller (nil: none, the floor).
func (r *runner) markCPU(c Controller) cpuMark {
	m := cpuMark{c: c}
	m.api, m.etcd = r.cpu()
	m.ctrl = controllerCPU(c)
	m.machine, _ = ReadCPUTimes()
	return m
}

// cpuSince is the split from m to now.
func (r *runner) cpuSince(m cpuMark) *CPUSplit {
	api, etcd := r.cpu()
	machine, _ := ReadCPUTimes()
	return &CPUSplit{
		APIServer:  round(api-m.api, 2),
		Etcd:       round(etcd-m.etcd, 2),
		Controller: round(controllerCPU(m.c)-m.ctrl, 2),
		BusyCores:  round(BusyCores(m.machine, machine, runtime.NumCPU()), 2),
	}
}

func controllerCPU(c Controller) float64 {
	if c == nil {
		return 0
	}
	s, _ := processCPU(c)
	return s
}

// deletionCPUMarkdown is the deletion phases' CPU, floor against trellis,
// for the runs that recorded it.
func deletionCPUMarkdown(runs []Row) string {
	var b strings.Builder
	for _, run := range runs {
		f, d := run.Floor.DeleteCPU, run.Trellis.Delete
		if f == nil || d == nil || d.CPU == nil {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\nCPU seconds of the deletion phase (apiserver / etcd / controller = total) and the machine's busy cores meanwhile:\n\n| N | floor CPU s | trellis CPU s | trellis/floor CPU | busy cores floor / trellis |\n|---:|---:|---:|---:|---:|\n")
		}
		t := d.CPU
		fmt.Fprintf(&b, "| %d | %.1f / %.1f / – = %.1f | %.1f / %.1f / %.1f = %.1f | %.2f× | %.2f / %.2f |\n", run.N,
			f.APIServer, f.Etcd, f.Total(), t.APIServer, t.Etcd, t.Controller, t.Total(), ratio(t.Total(), f.Total()), f.BusyCores, t.BusyCores)
	}
	return b.String()
}
