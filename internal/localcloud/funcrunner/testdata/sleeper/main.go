// Command sleeper stands in for a function's bootstrap in the runner's
// tests: it prints its process ID, starts a child of its own when
// SLEEPER_CHILD=1, and sleeps until it is killed.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"time"
)

func main() {
	if os.Getenv("SLEEPER_CHILD") == "1" && len(os.Args) == 1 {
		child := exec.Command(os.Args[0], "child")
		if err := child.Start(); err != nil {
			fmt.Println("cannot start child:", err)
			os.Exit(1)
		}
		fmt.Printf("child %d\n", child.Process.Pid)
	}
	fmt.Printf("ready %d\n", os.Getpid())
	for {
		time.Sleep(time.Hour)
	}
}
