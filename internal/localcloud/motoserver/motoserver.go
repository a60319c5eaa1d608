// Package motoserver gives tests a moto server (moto_server, Python's AWS
// emulator), so that what the embedded cloud does can be checked against
// an independent emulator where one is installed: CI has it, a fresh
// laptop may not, and then the test is skipped and says why.
//
// Only tests import it. It imports only the standard library.
package motoserver

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Endpoint is moto's URL for a test: ROTCHECK_MOTO when set (CI's moto
// step shares one server), else Start's.
func Endpoint(t testing.TB, why string) string {
	t.Helper()
	if url := os.Getenv("ROTCHECK_MOTO"); url != "" {
		return url
	}
	return Start(t, why)
}

// Start starts moto_server on a free loopback port for the test, stops it
// at the test's end, and returns its URL once it answers. Without
// moto_server on PATH the test is skipped, with why in the message ("to
// check ... against moto").
func Start(t testing.TB, why string) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skipf("skipped: moto_server is not on PATH and ROTCHECK_MOTO is unset (pip install 'moto[server]' %s)", why)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	// Waiting for a process to start, not for any clock: at most 30 s.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer within 30 s: %v", err)
		}
	}
}
