//go:build !linux

package localcloud

import "os/exec"

// setParentDeathSignal is Linux-only; elsewhere Close stops the processes.
func setParentDeathSignal(*exec.Cmd) {}
