package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat. It is
// 100 on every Linux architecture Go supports (sysconf would need cgo).
const clockTicks = 100

// ProcStats is what /proc says about a process.
type ProcStats struct {
	// PeakRSS (VmHWM) and RSS (VmRSS) in bytes.
	PeakRSS int64
	RSS     int64
	// CPUSeconds is user + system time.
	CPUSeconds float64
}

// ResetPeakRSS sets the process's VmHWM back to its current RSS (Linux's
// clear_refs "5"), so that a later ReadProc gives the peak of what ran
// since.
func ResetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// ReadProc reads /proc/<pid>/status and /proc/<pid>/stat.
func ReadProc(pid int) (ProcStats, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcStats{}, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcStats{}, err
	}
	var ps ProcStats
	if ps.PeakRSS, ps.RSS, err = parseStatus(string(status)); err != nil {
		return ps, err
	}
	ps.CPUSeconds, err = parseStatCPU(string(stat))
	return ps, err
}

// parseStatus returns VmHWM and VmRSS in bytes.
func parseStatus(s string) (hwm, rss int64, err error) {
	found := 0
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmHWM" && name != "VmRSS") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("unexpected %s line %q", name, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if name == "VmHWM" {
			hwm = kb * 1024
		} else {
			rss = kb * 1024
		}
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("VmHWM/VmRSS not found in /proc status")
	}
	return hwm, rss, nil
}

// parseStatCPU returns utime+stime in seconds from a /proc/<pid>/stat line.
// The command name (field 2) may contain spaces and parentheses, so fields
// are counted from the last ')'.
func parseStatCPU(s string) (float64, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat")
	}
	u, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, err
	}
	st, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, err
	}
	return float64(u+st) / clockTicks, nil
}

// CPUTimes are the machine-wide busy and total jiffies from /proc/stat.
type CPUTimes struct{ Busy, Total float64 }

// ReadCPUTimes reads the aggregate "cpu" line of /proc/stat.
func ReadCPUTimes() (CPUTimes, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUTimes{}, err
	}
	return parseCPUTimes(string(raw))
}

// parseCPUTimes: idle and iowait (fields 4 and 5) are not busy; guest time
// is already included in user.
func parseCPUTimes(s string) (CPUTimes, error) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "cpu" {
			continue
		}
		var t CPUTimes
		for i, v := range f[1:] {
			if i >= 8 { // guest, guest_nice are part of user/nice
				break
			}
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return CPUTimes{}, err
			}
			t.Total += n
			if i != 3 && i != 4 {
				t.Busy += n
			}
		}
		return t, nil
	}
	return CPUTimes{}, fmt.Errorf("no cpu line in /proc/stat")
}

// BusyCores is the average number of busy cores between a and b.
func BusyCores(a, b CPUTimes, cpus int) float64 {
	if b.Total <= a.Total {
		return 0
	}
	return (b.Busy - a.Busy) / (b.Total - a.Total) * float64(cpus)
}
