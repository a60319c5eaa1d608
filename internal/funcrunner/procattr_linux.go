package localcloud

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill a function process if the
// local cloud dies without stopping it, so no process is left behind.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
