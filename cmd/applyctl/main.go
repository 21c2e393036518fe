// Command applyctl controls berth: apply, get, describe, diff and delete
// Units, Jobs and Services. See internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"berth.dev/berth/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Getenv)
	stop()
	os.Exit(code)
}
