package memstat

import (
	"os"
	"runtime"
	"testing"

	"github.com/matryer/is"
)

func TestVmHWM(t *testing.T) {
	is := is.New(t)
	status, err := os.ReadFile("testdata/status")
	is.NoErr(err)
	is.Equal(vmHWM(string(status)), 21764)                  // the peak, not VmRSS (17408) or VmPeak (virtual)
	is.Equal(vmHWM("Name:\tbootstrap\nVmRSS:\t12 kB\n"), 0) // no VmHWM line: nothing to say
}

func TestPeakRSS(t *testing.T) {
	is := is.New(t)
	is.Equal(PeakRSS(-1), 0) // no such process
	if runtime.GOOS != "linux" {
		t.Skip("only Linux has /proc/<pid>/status")
	}
	is.True(PeakRSS(os.Getpid()) > 0) // this test's own process has touched memory
}
