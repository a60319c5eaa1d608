// Package memstat reads a process's peak resident memory (VmHWM) from
// Linux's /proc/<pid>/status, for the benchmarks that report what the
// function and the commands cost in memory. Elsewhere it reads nothing and
// says 0.
//
// It imports only the standard library.
package memstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PeakRSS is a process's peak resident memory so far in kB, 0 where the
// system does not say: outside Linux, or once the process has exited.
func PeakRSS(pid int) int {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	return vmHWM(string(status))
}

// vmHWM is the VmHWM line's value in kB of a /proc/<pid>/status text, 0
// if it has none.
func vmHWM(status string) int {
	for line := range strings.Lines(status) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb
		}
	}
	return 0
}
