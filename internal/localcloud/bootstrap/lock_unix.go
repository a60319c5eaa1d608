//go:build unix

package bootstrap

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on path, waiting for any other holder
// (another test package building the same bootstrap), and returns its
// release.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
