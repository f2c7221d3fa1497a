# syscalls: a static i386 Linux program that checks the system calls of
# bootchain's kernel beyond what the fixture chain uses, for
# TestKernelSyscalls. Each check appends "ok NAME\n" or "FAIL NAME\n" to
# /dev/hda, the file the kernel writes back over the disk. Assembled on the
# host with binutils by the test (it writes /t and /dev/hda: not for Linux).
	.intel_syntax noprefix
	.text
	.globl _start

# sys N: system call N with the arguments already in EBX, ECX, EDX
	.macro sys n
	mov eax, \n
	int 0x80
	.endm

# check NAME: ZF set means the check passed; report it
	.macro check name
	lea esi, [name_\name]
	call report
	.endm

_start:
	mov ebx, offset hda	# the report
	mov ecx, 0x241	# O_WRONLY|O_CREAT|O_TRUNC
	mov edx, 0644
	sys 5
	mov ebp, eax	# its descriptor

	mov ebx, offset dir	# mkdir("/t")
	mov ecx, 0755
	sys 39
	test eax, eax
	check mkdir

	mov ebx, offset dir	# mkdir("/t") again: EEXIST
	sys 39
	cmp eax, -17
	check mkdir_exists

	mov ebx, offset file	# open("/t/a", O_WRONLY|O_CREAT|O_TRUNC)
	mov ecx, 0x241
	mov edx, 0600
	sys 5
	mov edi, eax
	mov ebx, eax	# write "hello"
	mov ecx, offset hello
	mov edx, 5
	sys 4
	cmp eax, 5
	check write
	mov ebx, edi	# lseek(fd, 1, SEEK_SET), then write "E"
	mov ecx, 1
	xor edx, edx
	sys 19
	cmp eax, 1
	check lseek_set
	mov ebx, edi
	mov ecx, offset capital_e
	mov edx, 1
	sys 4
	mov ebx, edi	# lseek(fd, 0, SEEK_END) is the length
	xor ecx, ecx
	mov edx, 2
	sys 19
	cmp eax, 5
	check lseek_end
	mov ebx, edi
	sys 6

	mov ebx, offset file	# open("/t/a", O_RDWR|O_CREAT|O_EXCL): EEXIST
	mov ecx, 0xC2
	mov edx, 0600
	sys 5
	cmp eax, -17
	check open_excl

	mov ebx, offset target	# symlink("a", "/t/l")
	mov ecx, offset link
	sys 83
	test eax, eax
	check symlink

	mov ebx, offset link	# read "/t/l": the link's target's bytes
	xor ecx, ecx
	sys 5
	mov edi, eax
	mov ebx, eax
	mov ecx, offset buf
	mov edx, 16
	sys 3
	cmp eax, 5
	jne 1f
	cmp dword ptr [buf], 0x6C6C4568	# "hEll"
1:	check read_link
	mov ebx, edi
	sys 6

	mov ebx, offset dir	# chdir("/t"), then access("a") relative to it
	sys 12
	test eax, eax
	check chdir
	mov ebx, offset target
	xor ecx, ecx
	sys 33
	test eax, eax
	check access

	mov ebx, offset buf	# getcwd(buf, 16) = "/t", length 3
	mov ecx, 16
	sys 183
	cmp eax, 3
	jne 1f
	cmp word ptr [buf], 0x742F	# "/t"
1:	check getcwd

	mov ebx, offset target	# unlink("a"): gone
	sys 10
	test eax, eax
	check unlink
	mov ebx, offset file
	xor ecx, ecx
	sys 33
	cmp eax, -2
	check unlinked

	xor ebx, ebx	# brk(0), then 64 KiB more, zeroed
	sys 45
	mov esi, eax
	lea ebx, [eax+0x10000]
	sys 45
	lea ecx, [esi+0x10000]
	cmp eax, ecx
	jne 1f
	mov edi, esi
	mov ecx, 0x4000
	xor eax, eax
	repe scasd
1:	check brk

	sys 2	# fork: the child exits 7, the parent waits
	test eax, eax
	jnz parent
	mov ebx, 7
	sys 1
parent:
	mov edi, eax	# the child's pid
	mov ebx, -1
	mov ecx, offset buf
	xor edx, edx
	sys 7
	cmp eax, edi
	jne 1f
	cmp dword ptr [buf], 0x0700	# exited with 7
1:	check fork_wait

	mov ebx, offset low	# a program linked over the kernel's tables
	mov ecx, 0x241
	mov edx, 0700
	sys 5
	mov edi, eax
	mov ebx, eax
	mov ecx, offset lowelf
	mov edx, lowelf_end - lowelf
	sys 4
	mov ebx, edi
	sys 6
	mov ebx, offset low	# execve refuses it: ENOEXEC
	mov ecx, offset noargs
	xor edx, edx
	sys 11
	cmp eax, -8
	check execve_low

	sys 999	# an unknown call: ENOSYS
	cmp eax, -38
	check enosys

	xor ebx, ebx
	sys 1

# report: ZF says whether the check named at ESI passed; append the line
report:
	pushfd
	mov ecx, offset s_ok
	mov edx, 3
	popfd
	je 1f
	mov ecx, offset s_fail
	mov edx, 5
1:	mov ebx, ebp
	sys 4
	mov ecx, esi	# the name, up to its zero byte
	xor edx, edx
2:	cmp byte ptr [esi+edx], 0
	je 3f
	inc edx
	jmp 2b
3:	mov ebx, ebp
	sys 4
	mov ebx, ebp
	mov ecx, offset newline
	mov edx, 1
	sys 4
	ret

	.data
hda:	.asciz "/dev/hda"
dir:	.asciz "/t"
file:	.asciz "/t/a"
link:	.asciz "/t/l"
target:	.asciz "a"
hello:	.ascii "hello"
capital_e:	.ascii "E"
s_ok:	.ascii "ok "
s_fail:	.ascii "FAIL "
newline:	.ascii "\n"
name_mkdir:	.asciz "mkdir"
name_mkdir_exists:	.asciz "mkdir_exists"
name_write:	.asciz "write"
name_lseek_set:	.asciz "lseek_set"
name_lseek_end:	.asciz "lseek_end"
name_open_excl:	.asciz "open_excl"
name_symlink:	.asciz "symlink"
name_read_link:	.asciz "read_link"
name_chdir:	.asciz "chdir"
name_access:	.asciz "access"
name_getcwd:	.asciz "getcwd"
name_unlink:	.asciz "unlink"
name_unlinked:	.asciz "unlinked"
name_brk:	.asciz "brk"
name_fork_wait:	.asciz "fork_wait"
name_execve_low:	.asciz "execve_low"
name_enosys:	.asciz "enosys"
low:	.asciz "/low"
noargs:	.long low, 0
# an ELF file whose one segment would load at 0x00100000
lowelf:	.byte 0x7F, 0x45, 0x4C, 0x46, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0
	.short 2, 3
	.long 1, 0x00100054, 52, 0, 0
	.short 52, 32, 1, 0, 0, 0
	.long 1, 0, 0x00100000, 0x00100000, 0x58, 0x58, 5, 0x1000
	.byte 0xEB, 0xFE, 0, 0
lowelf_end:
	.bss
buf:	.space 16
