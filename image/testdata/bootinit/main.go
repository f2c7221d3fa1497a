// Command bootinit is the /init of the image package's boot test: it reports
// what the booted kernel sees (command line, active consoles, framebuffer) on
// the console, prints the marker line the test waits for on the serial and
// the framebuffer console, and powers off when the test sends a line.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"syscall"
)

const marker = "BOOTCHAIN-IMAGE-BOOTED"

func main() {
	// Mounts are best effort: the report says "unknown" for what is missing.
	syscall.Mount("proc", "/proc", "proc", 0, "")
	syscall.Mount("sysfs", "/sys", "sysfs", 0, "")
	syscall.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")

	report("cmdline", "/proc/cmdline")
	report("consoles", "/sys/class/tty/console/active")
	report("fb0", "/sys/class/graphics/fb0/name")
	report("efi", "/sys/firmware/efi/fw_platform_size")
	// The marker goes to the framebuffer console in bright green (VT
	// palette colour 10, RGB 55 FF 55), a colour nothing else on that screen
	// has, so that a screenshot shows it arrived.
	if tty, err := os.OpenFile("/dev/tty0", os.O_WRONLY, 0); err == nil {
		_, err = fmt.Fprintf(tty, "\n\x1b[1;32m%s\x1b[0m\n", marker)
		fmt.Printf("bootinit: tty0 write: %v\n", errString(err))
		tty.Close()
	} else {
		fmt.Printf("bootinit: tty0 open: %v\n", err)
	}
	fmt.Println(marker)
	// Wait for a line on the console before powering off, so that the test
	// can take its screenshot first.
	fmt.Println("bootinit: press Enter to power off")
	bufio.NewReader(os.Stdin).ReadString('\n')
	syscall.Sync()
	if err := syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Printf("bootinit: power off: %v\n", err)
	}
	select {}
}

func report(what, file string) {
	b, err := os.ReadFile(file)
	v := strings.TrimSpace(string(b))
	if err != nil {
		v = "unknown (" + err.Error() + ")"
	}
	fmt.Printf("bootinit: %s: %s\n", what, v)
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
