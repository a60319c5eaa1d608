package main

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/rotation-audit/rotation-audit/internal/dashboard"
)

// serveDashboard serves a dashboard until ctx ends (Ctrl-C), and prints
// the address of its page for a quarter.
func serveDashboard(ctx context.Context, srv *dashboard.Server, addr, quarter string, out io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("dashboard: listen on %s (choose another with -addr): %v: %w", addr, err, errUsage)
	}
	fmt.Fprintf(out, "\ndashboard: http://%s/?quarter=%s  (Ctrl-C stops it and tears the demo down)\n", ln.Addr(), quarter)
	return srv.Serve(ctx, ln)
}
