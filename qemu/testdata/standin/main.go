// Command standin plays both seeds in boot tests until the hex0 package has
// pinned seeds: run as kaem-optional-seed it runs a kaem script the way the
// kaem seed does (space/tab-separated tokens, '#' line comments, '"' raw
// strings, '\' dropping the next byte, " +> " before each command, exit 1 on
// the first failing command, exit 0 at the end of the script); run as
// hex0-seed it assembles IN to OUT with the Go hex0 assembler. It is an
// x86-64 static Go binary, so a guest booted with it proves everything but
// the seeds themselves.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bootchain/bootchain/hex0"
)

func main() {
	switch filepath.Base(os.Args[0]) {
	case "hex0-seed":
		os.Exit(hex0Main(os.Args[1:]))
	default:
		os.Exit(kaemMain(os.Args[1:]))
	}
}

func hex0Main(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: hex0-seed IN OUT")
		return 1
	}
	in, err := os.Open(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer in.Close()
	out, err := hex0.Assemble(in)
	var w hex0.Warnings
	if err != nil && !errors.As(err, &w) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.WriteFile(args[1], out, 0o750); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func kaemMain(args []string) int {
	script := "kaem.x86"
	if len(args) > 0 {
		script = args[0]
	}
	f, err := os.Open(script)
	if err != nil {
		return 1
	}
	r := bufio.NewReader(f)
	for {
		argv, eof := command(r)
		if len(argv) > 0 {
			fmt.Print(" +> ")
			for _, a := range argv {
				fmt.Print(a, " ")
			}
			fmt.Println()
			cmd := &exec.Cmd{Path: argv[0], Args: argv, Env: os.Environ(), Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
			if err := cmd.Run(); err != nil {
				fmt.Print("Subprocess error\nABORTING HARD\n")
				return 1
			}
		}
		if eof {
			return 0
		}
	}
}

// command reads one command line; eof is true at the end of the script (a
// command cut off by the end of the file is not run, like the seed).
func command(r *bufio.Reader) (argv []string, eof bool) {
	var tok []byte
	end := func() {
		if len(tok) > 0 { // an empty token, even "", is dropped
			argv = append(argv, string(tok))
		}
		tok = nil
	}
	for {
		c, err := r.ReadByte()
		if err == io.EOF {
			return nil, true
		}
		switch c {
		case ' ', '\t':
			end()
		case '\n':
			end()
			return argv, false
		case '#':
			for c != '\n' {
				if c, err = r.ReadByte(); err != nil {
					return nil, true
				}
			}
			end()
			return argv, false
		case '"':
			for {
				c, err = r.ReadByte()
				if err != nil {
					return nil, true
				}
				if c == '"' {
					break
				}
				tok = append(tok, c)
			}
		case '\\':
			if _, err := r.ReadByte(); err != nil {
				return nil, true
			}
		default:
			tok = append(tok, c)
		}
	}
}
