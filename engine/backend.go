package engine

import (
	"context"
	"io"

	"github.com/bootchain/bootchain/chain"
	"github.com/bootchain/bootchain/sandbox"
	"github.com/bootchain/bootchain/verify"
)

// SandboxBackend runs each step in fresh Linux namespaces with the step's
// root as "/" (package sandbox): no network, no host files, only the
// environment the chain declares.
type SandboxBackend struct {
	// Limits bound each step; zero fields take sandbox.DefaultLimits.
	Limits sandbox.Limits
}

// Name implements Backend.
func (SandboxBackend) Name() string { return "sandbox" }

// RunStep implements Backend.
func (b SandboxBackend) RunStep(ctx context.Context, step chain.Step, root string, log io.Writer) error {
	return sandbox.Run(ctx, sandbox.Config{
		Root:    root,
		Dir:     step.Dir,
		Argv:    step.Argv,
		Env:     step.Env,
		Stdout:  log,
		Stderr:  log,
		Timeout: step.Timeout,
		Limits:  b.Limits,
	})
}

// reportLimits are the limits the backend runs steps under, for the
// report; nil for a backend without them.
func reportLimits(b Backend) *verify.Limits {
	sb, ok := b.(SandboxBackend)
	if !ok {
		return nil
	}
	l := sb.Limits.Or(sandbox.DefaultLimits)
	e := sandbox.Enforcement()
	return &verify.Limits{RootBytes: l.RootSize, MemoryBytes: l.Memory, MemoryBy: e.Memory, Pids: l.Pids, PidsBy: e.Pids}
}
