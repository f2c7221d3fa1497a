package engine

import (
	"context"
	"io"

	"github.com/bootchain/bootchain/qemu"
)

// A BootBackend runs a whole run in one boot of a machine, not step by
// step: the engine plans the guest (its root, verified, and its steps, as
// a qemu.Guest) and the backend boots it and reports each step through
// qemu.BootEnv.Event, as package qemu's RunSteps does; the engine holds every
// output against its pin, writes the report and the logs. Run never
// calls RunStep on it. The qemu backend (qemu.Backend, a Linux guest) and
// the builder-hex0 backend (package builderhex0) are boot backends.
type BootBackend interface {
	Backend
	// Boot runs g until its last step or the first failure. An error
	// from env.Event stops the machine and is returned as it is; a
	// failure inside a step is a *qemu.StepError naming it.
	Boot(ctx context.Context, g qemu.Guest, env qemu.BootEnv) error
}

// userConsoler is a BootBackend that shows the guest console to a person
// (--console).
type userConsoler interface {
	UserConsole() io.Writer
}
