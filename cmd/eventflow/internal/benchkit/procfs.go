package benchkit

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The benchmarks read CPU time and memory from /proc rather than asking the
// processes: it costs them nothing, works for processes that expose no
// metrics (the cluster's) and sees the whole process, runtime included.
// Linux only: elsewhere the readers report that they found nothing.

// clockTick is USER_HZ, the unit of the times in /proc: 100 on Linux.
const clockTick = 10 * time.Millisecond

// statFields is /proc/<pid>/stat after the command name (which may hold
// spaces and parentheses): element 0 is field 3 of proc(5), the state.
func statFields(pid string) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(s[i+1:]), true
}

// ProcTimes is the CPU time (user+system) pid has used itself, and that of
// its children it has waited for.
func ProcTimes(pid int) (self, children time.Duration, ok bool) {
	f, ok := statFields(strconv.Itoa(pid))
	if !ok || len(f) < 15 {
		return 0, 0, false
	}
	n := func(k int) time.Duration { // field k of proc(5)
		v, _ := strconv.ParseInt(f[k-3], 10, 64)
		return time.Duration(v) * clockTick
	}
	return n(14) + n(15), n(16) + n(17), true
}

// ChildProc is a direct child of a process: its pid and the program it ran
// then (/proc/<pid>/comm), to tell it from a later process with its pid.
type ChildProc struct {
	PID  int
	Comm string
}

// PIDs lists the processes of the machine (as far as /proc shows them).
func PIDs() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// ChildProcs lists the direct children of pid.
func ChildProcs(pid int) []ChildProc {
	var out []ChildProc
	for _, cpid := range PIDs() {
		f, ok := statFields(strconv.Itoa(cpid))
		if !ok || len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			comm, _ := readComm(cpid)
			out = append(out, ChildProc{PID: cpid, Comm: comm})
		}
	}
	return out
}

func readComm(pid int) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// VmRSS is the resident set of pid in bytes (/proc/<pid>/status).
func VmRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// MachineBusy is the CPU time the whole machine has spent not idle, summed
// over all CPUs (/proc/stat): what everything else on the machine used is
// this minus what the benchmark accounts for.
func MachineBusy() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest times are already in user
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * clockTick, true
}

// LoadAvg is the 1, 5 and 15 minute load averages as /proc/loadavg has
// them, or "?".
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
