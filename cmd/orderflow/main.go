// Command orderflow runs the whole pipeline locally (`orderflow serve`) and
// gives operators a safe command for every step of the operations playbook.
// See README.md for the commands and their playbook sections.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
