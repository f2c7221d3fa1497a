// Command probe is a static test program that the sandbox tests place
// inside a step root. Its first argument chooses what it tries; it
// reports on stdout, and its exit status says whether the attempt worked:
//
//	0  the attempt succeeded (or, for net, nothing connected)
//	3  the attempt failed, as a sandboxed step should
//	4  net: something connected
//	2  usage error
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "pid":
		fmt.Printf("pid=%d ppid=%d\n", os.Getpid(), os.Getppid())
	case "id":
		fmt.Printf("uid=%d gid=%d\n", os.Getuid(), os.Getgid())
	case "env":
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
	case "args":
		for _, a := range os.Args {
			fmt.Println(a)
		}
	case "cwd":
		wd, err := syscall.Getwd()
		check(err)
		fmt.Println(wd)
	case "uname":
		var u syscall.Utsname
		check(syscall.Uname(&u))
		fmt.Printf("%s %s\n", cstr(u.Nodename[:]), cstr(u.Domainname[:]))
	case "umask":
		fmt.Printf("%04o\n", syscall.Umask(0))
	case "stdin":
		var buf [512]byte
		n, err := syscall.Read(0, buf[:])
		fmt.Printf("read=%d err=%v\n", n, err)
	case "fds":
		// Any descriptor above 2 that is open.
		for fd := 3; fd < 4096; fd++ {
			if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0); e == 0 {
				fmt.Printf("fd %d\n", fd)
			}
		}
	case "read":
		need(args, 1)
		b, err := os.ReadFile(args[0])
		check(err)
		os.Stdout.Write(b)
	case "escape":
		// The classic chroot escape, then read a host path.
		need(args, 1)
		check(os.MkdirAll("/escape-dir", 0o755))
		check(syscall.Chroot("/escape-dir"))
		for i := 0; i < 64; i++ {
			syscall.Chdir("..")
		}
		check(syscall.Chroot("."))
		b, err := os.ReadFile(args[0])
		check(err)
		os.Stdout.Write(b)
	case "net":
		// args: a host address to try over TCP and UDP.
		need(args, 1)
		connected := false
		for _, try := range [][2]string{{"tcp", args[0]}, {"udp", args[0]}, {"udp", "192.0.2.1:53"}, {"tcp", "192.0.2.1:80"}} {
			c, err := net.DialTimeout(try[0], try[1], 2*time.Second)
			if err == nil {
				_, err = c.Write([]byte("probe\n"))
				c.Close()
			}
			fmt.Printf("%s %s: %v\n", try[0], try[1], err)
			if err == nil {
				connected = true
			}
		}
		if connected {
			os.Exit(4)
		}
	case "mknod":
		// A character device node like /dev/null (major 1, minor 3).
		need(args, 1)
		check(syscall.Mknod(args[0], syscall.S_IFCHR|0o666, 1<<8|3))
	case "write":
		need(args, 2)
		check(os.WriteFile(args[0], []byte(args[1]), 0o666))
	case "exit":
		need(args, 1)
		n, err := strconv.Atoi(args[0])
		check(err)
		os.Exit(n)
	case "spawn":
		// args: token, then "sleep" or "exit": start a child that sleeps
		// forever (its argv carries the token), write /ready, then sleep or
		// exit.
		need(args, 2)
		_, err := os.StartProcess(os.Args[0], []string{os.Args[0], "sleep", args[0]},
			&os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
		check(err)
		check(os.WriteFile("/ready", []byte("ready\n"), 0o666))
		// The root is a tmpfs the host sees only after the step: say
		// so on stdout too.
		fmt.Println("ready")
		if args[1] == "sleep" {
			sleep()
		}
	case "sleep":
		sleep()
	case "mkfifo":
		need(args, 1)
		check(syscall.Mkfifo(args[0], 0o666))
	case "fill":
		// args: path: write 1 MiB blocks until a write fails.
		need(args, 1)
		f, err := os.Create(args[0])
		check(err)
		block := make([]byte, 1<<20)
		for n := 0; ; n++ {
			if _, err := f.Write(block); err != nil {
				fmt.Printf("wrote %d MiB: %v\n", n, err)
				os.Exit(3)
			}
		}
	case "bomb":
		// args: n: start up to n sleeping children; exit 3 when a fork
		// fails first.
		need(args, 1)
		n, err := strconv.Atoi(args[0])
		check(err)
		for i := 0; i < n; i++ {
			_, err := os.StartProcess(os.Args[0], []string{os.Args[0], "sleep"},
				&os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
			if err != nil {
				fmt.Printf("started %d: %v\n", i, err)
				os.Exit(3)
			}
		}
	case "alloc":
		// args: n: map n MiB of memory and use every page of it; exit 3
		// when the mapping fails.
		need(args, 1)
		n, err := strconv.Atoi(args[0])
		check(err)
		m, err := syscall.Mmap(-1, 0, n<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			fmt.Printf("mmap %d MiB: %v\n", n, err)
			os.Exit(3)
		}
		for i := 0; i < len(m); i += 4096 {
			m[i] = 1
		}
		fmt.Printf("used %d MiB\n", n)
	case "bytes":
		// args: n, path: write n bytes one write(2) each, then read them
		// back one read(2) each, like the stage0 tools do.
		need(args, 2)
		n, err := strconv.Atoi(args[0])
		check(err)
		fd, err := syscall.Open(args[1], syscall.O_CREAT|syscall.O_TRUNC|syscall.O_WRONLY, 0o644)
		check(err)
		b := []byte{'x'}
		for i := 0; i < n; i++ {
			if _, err := syscall.Write(fd, b); err != nil {
				check(err)
			}
		}
		check(syscall.Close(fd))
		fd, err = syscall.Open(args[1], syscall.O_RDONLY, 0)
		check(err)
		total := 0
		for {
			m, err := syscall.Read(fd, b)
			check(err)
			if m == 0 {
				break
			}
			total += m
		}
		if total != n {
			fmt.Printf("read back %d bytes, wrote %d\n", total, n)
			os.Exit(3)
		}
	default:
		usage()
	}
}

func sleep() {
	for {
		time.Sleep(time.Hour)
	}
}

func cstr(b []int8) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

func need(args []string, n int) {
	if len(args) < n {
		usage()
	}
}

func check(err error) {
	if err != nil {
		fmt.Printf("error: %v\n", err)
		os.Exit(3)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe pid|id|env|args|cwd|uname|umask|stdin|fds|read PATH|escape PATH|net ADDR|mknod PATH|write PATH TEXT|exit N|spawn TOKEN sleep|exit|sleep TOKEN|bytes N PATH|alloc MIB")
	os.Exit(2)
}
