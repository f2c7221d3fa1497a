package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

// TestCommandsDispatched: every command usage lists (and the unknown-command
// error names) is one dispatch knows, with a -h that prints its usage.
func TestCommandsDispatched(t *testing.T) {
	for _, c := range commands {
		var stderr strings.Builder
		err := dispatch(context.Background(), []string{c.name, "-h"}, io.Discard, &stderr)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("bootchain %s -h: err %v, want the usage (flag.ErrHelp)", c.name, err)
		}
		if !strings.HasPrefix(stderr.String(), "usage: bootchain "+c.name+" ") {
			t.Errorf("bootchain %s -h printed %q, want its usage", c.name, stderr.String())
		}
		if !strings.Contains(commandList(), c.name) {
			t.Errorf("the unknown-command error does not name %s", c.name)
		}
	}
}
