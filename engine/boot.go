package engine

import (
	"context"
	"io"

	"github.com/sirupsen/logrus"

	"github.com/bootchain/bootchain/qemu"
)

// A BootBackend runs a whole run in one boot of a machine, not step by
// step: the engine plans the guest (its root, verified, and its steps, as
// a qemu.Guest) and the backend boots it and reports each step through
// BootEnv.Event, as package qemu's RunSteps does; the engine holds every
// output against its pin, writes the report and the logs. Run never
// calls RunStep on it. The qemu backend (a Linux guest) and the
// builder-hex0 backend (package builderhex0) are boot backends.
type BootBackend interface {
	Backend
	// Boot runs g until its last step or the first failure. An error
	// from env.Event stops the machine and is returned as it is; a
	// failure inside a step is a *qemu.StepError naming it.
	Boot(ctx context.Context, g qemu.Guest, env BootEnv) error
}

// BootEnv is what the engine gives a BootBackend for one boot.
type BootEnv struct {
	Event func(qemu.Event) error // each step's events, in order, from one goroutine
	// Console receives the guest console as text; lines between a step's
	// begin and end events go to its log.
	Console  io.Writer
	Log      logrus.FieldLogger
	CacheDir string // the run's cache (sources, kernels, probes)
	// Record notes what the guest ran with, for the report: the
	// accelerator, and the kernel image's path when there is one.
	Record func(accel qemu.Accel, kernel string)
}

// userConsoler is a BootBackend that shows the guest console to a person
// (--console).
type userConsoler interface {
	UserConsole() io.Writer
}
