# bootchain kernel (stage 2): a single-tasking 32-bit kernel for running a
# bootstrap chain from a disk, with no Linux. Written for bootchain from
# scratch; it speaks the disk protocol of package builderhex0.
#
# Stage 1 assembles this file's hex0 to 0x8000 and jumps here in 16-bit
# real mode. The kernel enables the A20 line, enters flat 32-bit protected
# mode (ring 0, no paging, interrupts off), points every interrupt at a
# handler that reports a fault and int 0x80 at the system calls, and runs
# its shell on the build script: the disk from sector SCRIPT on, read with
# ATA PIO from the primary master, up to the first zero byte. Then it
# writes the file /dev/hda over the disk from sector 0, prints
# "Build finished." and the file's length as eight hex digits (or
# "ERROR: no hda writes!" without one) on COM1, and resets the machine
# (a triple fault: QEMU's -no-reboot makes it QEMU's exit).
#
# The shell reads one line at a time, echoes it and splits it at spaces:
#   src N PATH     the next N bytes of the script become file PATH
#                  (N = 0: PATH is a directory)
#   hex0 IN OUT    assemble hex0 file IN into file OUT
#   PROG ARG...    run program PROG with those arguments, no environment,
#                  in directory /, until it exits
#
# Programs are static i386 ELF executables; they run in ring 0 too and call
# the kernel with int 0x80 as on Linux (number in EAX, arguments in EBX,
# ECX, EDX, result in EAX, -errno on failure): exit, fork, read, write,
# open, close, waitpid, unlink, execve, chdir, lseek, getpid, access,
# mkdir, rmdir, symlink, brk, wait4, getcwd, exit_group; chmod and umask do nothing
# but succeed; every other call fails with ENOSYS.
#
# fork makes a copy of the calling process's memory (its image from the
# lowest loaded address to its break, its stack, open files and working
# directory) on the save stack and goes on as the child; when the child
# exits, the copy comes back and fork returns the child's pid to the
# parent, whose waitpid then gets the child's status. One process runs at
# a time; children of children nest.
#
# Files live in memory: a table of entries (name, data, length, capacity,
# kind) and a heap that only grows. Opening a file with O_TRUNC makes a new
# empty entry; lookups take the newest entry of a name; unlink takes an
# entry's name away (its bytes stay on the heap); a symbolic link is an
# entry holding its target, followed when looked up. Paths are made
# absolute against the working directory, with "." and ".." resolved.
# Programs may be linked anywhere from 0x01000000 (mes-m2's address) and
# grow with brk up to 0x40000000; their stack is below 0x48000000.
	.intel_syntax noprefix

# ---- memory map (physical addresses, equal to linear ones) ----
	.set KSTACK, 0x7C00	# kernel stack top (the shell and exec run on it)
	.set IDT, 0x10000	# 256 gates of 8 bytes
	.set SECBUF, 0x10800	# one sector of the script
	.set PATHBUF, 0x11000	# the path being resolved, 4 KiB
	.set CWD, 0x12000	# the running process's working directory, 4 KiB
	.set FDS, 0x16000	# NFDS descriptors of 8 bytes: entry address, offset
	.set VARS, 0x13100	# the kernel's variables, below
	.set LINEBUF, 0x14000	# the shell's line, 4 KiB
	.set WORDS, 0x15000	# the shell's word pointers
	.set ARGBUF, 0x20000	# execve's arguments: argc, envc, the strings
	.set FILES, 0x100000	# the file table: 32768 entries of 32 bytes
	.set LINKBUF, 0x18000	# a symbolic link's target being resolved, 4 KiB
	.set PROG_START, 0x01000000	# programs load from here (execve refuses lower segments)
	.set PROG_END, 0x40000000	# programs load and grow (brk) below here,
	# from wherever they are linked: 0x08048000 (stage0), 0x01000000 (mes-m2)
	.set USTACK, 0x48000000	# programs' stack top (the stack grows down to PROG_END)
	.set SAVE, 0x48000000	# the save stack of forked parents grows up from here
	.set SAVE_END, 0x60000000	# up to here
	.set HEAP, 0x60000000	# file names and contents grow up from here
	.set HEAP_END, 0xC0000000	# up to here (3 GiB of memory)
	.set MAXFILES, 32768	# entries in the file table
	.set NFDS, 1024	# descriptors per process (M2-Mesoplanet keeps every include open)
	.set SCRIPT, 175	# the script's first sector
# the variables (dwords at VARS)
	.set heap_top, VARS+0	# the heap's first free byte
	.set nfiles, VARS+4	# entries in the file table
	.set lba, VARS+8	# the next script sector to read
	.set secpos, VARS+12	# the next byte of SECBUF (512: read a sector)
	.set cur_rec, VARS+16	# the newest save record, 0 for none
	.set image_lo, VARS+20	# the running program's lowest loaded address
	.set brk, VARS+24	# its break
	.set next_pid, VARS+28	# the last pid given out
	.set cur_pid, VARS+32	# the running process's pid
	.set child_pid, VARS+36	# the child that exited last
	.set child_status, VARS+40	# its wait status
	.set child_ready, VARS+44	# 1 until waitpid takes it
	.set argend, VARS+48	# the end of execve's strings in ARGBUF
	.set eof, VARS+52	# 1 after the script's zero byte
# a file table entry
	.set F_NAME, 0	# the name: an absolute path in the heap
	.set F_DATA, 4	# the contents
	.set F_LEN, 8	# their length
	.set F_CAP, 12	# bytes reserved at F_DATA
	.set F_DIR, 16	# 1 for a directory, 2 for a symbolic link (its target in F_DATA)
# a save record (a forked parent)
	.set R_PREV, 0	# the record before it, or 0
	.set R_END, 4	# the first byte after it
	.set R_ESP, 8	# the parent's stack pointer at fork (its saved registers)
	.set R_LO, 12	# its image_lo
	.set R_BRK, 16	# its brk
	.set R_PID, 20	# its pid
	.set R_FDS, 32	# its descriptors, NFDS*8 bytes
	.set R_CWD, R_FDS+NFDS*8	# its working directory, 4096 bytes
	.set R_MEM, R_CWD+4096	# then its image, then its stack

	.text
	.code16
# ---- 16-bit entry, from stage 1 ----
entry:
	cli	# no interrupts from here on
	in al, 0x92	# system control port A
	or al, 2	# set the A20 gate bit
	and al, 0xFE	# never the reset bit
	out 0x92, al	# A20 on: all memory is addressable
	lgdt [gdt_desc]	# load the flat segments
	mov eax, cr0	# control register 0
	or al, 1	# set PE
	mov cr0, eax	# protected mode
	ljmp 0x08, offset start32	# load CS with the 32-bit code segment

	.code32
gdt:
	.long 0, 0	# the null descriptor
	.long 0x0000FFFF, 0x00CF9A00	# 0x08: code, base 0, 4 GiB, 32-bit, ring 0
	.long 0x0000FFFF, 0x00CF9200	# 0x10: data, base 0, 4 GiB, ring 0
gdt_desc:
	.word 23	# the GDT's limit
	.long gdt	# its address
idt_desc:
	.word 2047	# the IDT's limit: 256 gates
	.long IDT	# its address

# ---- 32-bit start ----
start32:
	mov ax, 0x10	# the data segment
	mov ds, ax	# for data
	mov es, ax	# for string instructions
	mov fs, ax	# unused, but valid
	mov gs, ax	# unused, but valid
	mov ss, ax	# for the stack
	mov esp, KSTACK	# the kernel stack
	cld	# string instructions count up
	mov al, 0xFF	# mask every IRQ
	out 0x21, al	# on the master PIC
	out 0xA1, al	# and the slave
	mov edi, IDT	# fill the IDT
	mov ecx, 256	# every vector
idt_fill:
	mov eax, offset fault	# the handler's address
	mov edx, eax	# kept for the high half
	and eax, 0xFFFF	# low 16 bits of the offset
	or eax, 0x00080000	# selector 0x08
	stosd	# first half of the gate
	and edx, 0xFFFF0000	# high 16 bits of the offset
	or edx, 0x8E00	# present, ring 0, 32-bit interrupt gate
	mov eax, edx	# second half
	stosd	# stored
	loop idt_fill	# next vector
	mov eax, offset isr80	# the system call handler
	mov [IDT+0x80*8], ax	# low half of its offset into gate 0x80
	shr eax, 16	# high half
	mov [IDT+0x80*8+6], ax	# into the gate
	lidt [idt_desc]	# load the IDT
	mov dword ptr [heap_top], HEAP	# the heap is empty
	xor eax, eax	# zero
	mov [nfiles], eax	# no files
	mov [cur_rec], eax	# no forked parents
	mov [child_ready], eax	# no child to wait for
	mov [eof], eax	# the script goes on
	mov [next_pid], eax	# pids start at 1
	mov dword ptr [lba], SCRIPT	# the script's first sector
	mov dword ptr [secpos], 512	# nothing read yet
	mov esi, offset hello	# say who runs
	call puts	# on the console

# ---- the shell ----
shell:
	mov esp, KSTACK	# a program that exited left its stack
	mov edi, FDS	# close every file
	xor eax, eax	# zero
	mov ecx, NFDS*2	# NFDS*8 bytes
	rep stosd	# cleared
	mov dword ptr [CWD], 0x2F	# the directory is "/"
	cmp [eof], eax	# was the script's end reached?
	jne finish	# then write the result
	mov edi, LINEBUF	# read a line
line:
	call getc	# AL = the next script byte
	test al, al	# the script's end?
	jz line_eof	# ends the line and the script
	cmp al, 0x0A	# line feed?
	je line_end	# ends the line
	stosb	# keep the byte
	cmp edi, LINEBUF+4095	# room left?
	jb line	# read on
	jmp line_end	# a line too long is cut
line_eof:
	inc dword ptr [eof]	# no more lines after this one
line_end:
	mov byte ptr [edi], 0	# end the line
	cmp edi, LINEBUF	# an empty line?
	je shell	# does nothing
	mov esi, LINEBUF	# echo it
	call puts	# on the console
	call newline	# and a line feed
	mov esi, LINEBUF	# split it into words
	mov edi, WORDS	# their pointers
	xor ecx, ecx	# count them
split:
	lodsb	# next byte
	test al, al	# end of line?
	jz split_end	# done
	cmp al, 0x20	# a space?
	je split	# skip it
	lea eax, [esi-1]	# a word starts here
	stosd	# its pointer
	inc ecx	# one more word
split_word:
	lodsb	# next byte of the word
	test al, al	# end of line?
	jz split_end	# ends the word and the line
	cmp al, 0x20	# a space?
	jne split_word	# the word goes on
	mov byte ptr [esi-1], 0	# ends the word
	jmp split	# the next word
split_end:
	xor eax, eax	# NULL
	stosd	# ends the pointers
	test ecx, ecx	# no words?
	jz shell	# an empty line does nothing
	mov esi, [WORDS]	# the command
	mov edi, offset s_src	# "src"?
	call strcmp	# compare
	je do_src	# yes
	mov esi, [WORDS]	# the command
	mov edi, offset s_hex0	# "hex0"?
	call strcmp	# compare
	je do_hex0	# yes
	# run a program: argv = the words, no environment
	mov edi, ARGBUF+8	# the strings go here
	mov esi, WORDS	# from the word pointers
	call copy_strv	# copied; EAX = argc
	mov [ARGBUF], eax	# argc
	mov dword ptr [ARGBUF+4], 0	# no environment
	mov [argend], edi	# the strings' end
	mov esi, [WORDS]	# the program's path
	call find_exec	# EAX = its entry, or -errno
	test eax, eax	# found?
	jns load_exec	# run it (its exit returns to shell)
	mov esi, offset s_norun	# "cannot run"
	call puts	# say so
	jmp shell	# next line

# src N PATH: N bytes of the script become the file PATH
do_src:
	mov esi, [WORDS+4]	# N, in decimal
	xor ebx, ebx	# the value
	test esi, esi	# missing?
	jz bad_cmd	# then the line is wrong
src_num:
	lodsb	# next digit
	sub al, 0x30	# its value
	cmp al, 9	# a digit?
	ja src_path	# no: the number ended
	imul ebx, ebx, 10	# shift the value
	movzx eax, al	# add the digit
	add ebx, eax	# value = value * 10 + digit
	jmp src_num	# next digit
src_path:
	mov esi, [WORDS+8]	# PATH
	test esi, esi	# missing?
	jz bad_cmd	# then the line is wrong
	call resolve	# PATHBUF = the absolute path
	test ebx, ebx	# N = 0?
	jnz src_file	# no: a file
	call make_dir	# a directory
	jmp shell	# next line
src_file:
	call create	# EAX = a new, empty entry
	mov edi, [eax+F_DATA]	# its contents go at the heap's top
	mov [eax+F_LEN], ebx	# N bytes long
	mov [eax+F_CAP], ebx	# and as many reserved
	mov ecx, ebx	# count them
	add ebx, edi	# the heap's new top
	call heap_check	# within the heap?
	mov [heap_top], ebx	# taken
src_copy:
	call getc	# the next script byte
	stosb	# into the file
	loop src_copy	# N times
	jmp shell	# next line

# hex0 IN OUT: assemble IN into OUT
do_hex0:
	mov esi, [WORDS+4]	# IN
	test esi, esi	# missing?
	jz bad_cmd	# then the line is wrong
	call resolve	# its absolute path
	call lookup	# EAX = its entry
	test eax, eax	# found?
	jz bad_cmd	# no
	mov esi, [eax+F_DATA]	# IN's contents
	mov ecx, [eax+F_LEN]	# their length
	push esi	# kept
	push ecx	# kept
	mov esi, [WORDS+8]	# OUT
	test esi, esi	# missing?
	jz bad_cmd	# then the line is wrong
	call resolve	# its absolute path
	call create	# EAX = a new, empty entry at the heap's top
	pop ecx	# IN's length
	pop esi	# IN's contents
	mov edi, [eax+F_DATA]	# OUT's contents
	push eax	# the entry
	push edi	# where OUT starts
	xor ebx, ebx	# BL = 1 inside a comment, BH = 1 with a digit pending
	jecxz hex_end	# an empty IN
hex_byte:
	lodsb	# the next byte of IN
	test bl, bl	# inside a comment?
	jz hex_code	# no
	cmp al, 0x0A	# a line feed ends it
	jne hex_next	# anything else is skipped
	mov bl, 0	# the comment ended
	jmp hex_next	# next byte
hex_code:
	cmp al, 0x23	# '#'?
	je hex_comment	# starts a comment
	cmp al, 0x3B	# ';'?
	je hex_comment	# starts a comment
	sub al, 0x30	# '0'-'9' become 0-9
	cmp al, 10	# a decimal digit?
	jb hex_digit	# yes
	add al, 0x30	# back to the byte
	or al, 0x20	# 'A'-'F' become 'a'-'f'
	sub al, 0x61	# 'a'-'f' become 0-5
	cmp al, 6	# a letter digit?
	jae hex_next	# no: skip it
	add al, 10	# its value, 10-15
hex_digit:
	xor bh, 1	# flip "a digit is pending"
	jz hex_low	# it was: this is the low digit
	shl al, 4	# the high digit, shifted
	mov dl, al	# kept in DL
	jmp hex_next	# next byte
hex_low:
	or al, dl	# join the digits
	stosb	# the output byte
	jmp hex_next	# next byte
hex_comment:
	mov bl, 1	# inside a comment until the line feed
hex_next:
	loop hex_byte	# every byte of IN
hex_end:
	pop esi	# where OUT starts
	pop eax	# its entry
	mov ebx, edi	# the heap's new top
	call heap_check	# within the heap?
	mov [heap_top], edi	# taken
	sub edi, esi	# OUT's length
	mov [eax+F_LEN], edi	# recorded
	mov [eax+F_CAP], edi	# all of it reserved
	jmp shell	# next line

bad_cmd:
	mov esi, offset s_bad	# "bad command"
	call puts	# say so
	jmp shell	# next line

# ---- the end of the script: write /dev/hda over the disk ----
finish:
	mov esi, offset s_finished	# "Build finished."
	call puts	# said
	mov esi, offset s_hda	# "/dev/hda"
	mov edi, PATHBUF	# looked up by its absolute path
	mov ecx, 9	# with its zero byte
	rep movsb	# copied
	call lookup	# EAX = its entry
	test eax, eax	# found?
	jnz flush	# then write it
	mov esi, offset s_nohda	# "ERROR: no hda writes!"
	call puts	# said
	jmp reset	# stop
flush:
	mov esi, [eax+F_DATA]	# the contents
	mov ebx, [eax+F_LEN]	# their length
	push ebx	# kept for the message
	xor eax, eax	# sector 0 first
flush_sector:
	test ebx, ebx	# anything left?
	jz flush_done	# no
	mov edi, SECBUF	# copy one sector's worth
	mov ecx, 512	# at most 512 bytes
	cmp ebx, ecx	# fewer left?
	jae flush_copy	# no
	mov ecx, ebx	# yes: only those
flush_copy:
	sub ebx, ecx	# that many fewer left
	rep movsb	# into SECBUF
	push eax	# the sector number
	mov ecx, SECBUF+512	# pad the sector with zeros
	sub ecx, edi	# from where the copy ended
	xor eax, eax	# zeros
	rep stosb	# padded
	pop eax	# the sector number
	push esi	# the next contents
	mov esi, SECBUF	# write this sector
	call ata_write	# to the disk
	pop esi	# the next contents
	inc eax	# the next sector
	jmp flush_sector	# go on
flush_done:
	mov dx, 0x1F7	# the command port
	mov al, 0xE7	# FLUSH CACHE
	out dx, al	# issued
	call ata_idle	# wait until it is done
	pop eax	# the length
	call puthex	# printed in eight hex digits
	call newline	# and a line feed
reset:
	lidt [null_idt]	# an IDT with no gates
	int 3	# faults, and faulting again resets the machine
null_idt:
	.word 0	# limit 0
	.long 0	# address 0

# ---- the script, one byte at a time ----
# getc: AL = the next byte of the script (EAX zero-extended).
getc:
	mov eax, [secpos]	# the next byte's offset in SECBUF
	cmp eax, 512	# past the sector?
	jb getc_have	# no
	push edi	# kept
	mov eax, [lba]	# the next sector
	mov edi, SECBUF	# read into SECBUF
	call ata_read	# read
	inc dword ptr [lba]	# then the one after
	pop edi	# restored
	xor eax, eax	# from its first byte
getc_have:
	inc eax	# the offset after it
	mov [secpos], eax	# for the next call
	movzx eax, byte ptr [SECBUF+eax-1]	# this byte
	ret

# ---- ATA PIO on the primary controller's master disk, LBA28 ----
# ata_select: EAX = sector; sets up a one-sector command. Keeps EAX.
ata_select:
	push eax	# kept
	push eax	# the sector, for the top bits
	mov dx, 0x1F2	# sector count
	mov al, 1	# one
	out dx, al	# set
	pop eax	# the sector
	inc dx	# 0x1F3: bits 0-7
	out dx, al	# set
	shr eax, 8	# bits 8-15
	inc dx	# 0x1F4
	out dx, al	# set
	shr eax, 8	# bits 16-23
	inc dx	# 0x1F5
	out dx, al	# set
	shr eax, 8	# bits 24-27
	and al, 0x0F	# only 4 of them
	or al, 0xE0	# LBA mode, master
	inc dx	# 0x1F6
	out dx, al	# set
	pop eax	# restored
	ret
# ata_read: EAX = sector, EDI = buffer; reads 512 bytes. Keeps EAX.
ata_read:
	push ecx	# kept
	push edi	# kept
	call ata_select	# the sector
	push eax	# kept
	mov dx, 0x1F7	# the command port
	mov al, 0x20	# READ SECTORS
	out dx, al	# issued
	call ata_drq	# wait for the data
	mov ecx, 256	# 256 words
	mov dx, 0x1F0	# the data port
	rep insw	# read
	pop eax	# restored
	pop edi	# restored
	pop ecx	# restored
	ret
# ata_write: EAX = sector, ESI = buffer; writes 512 bytes. Keeps EAX, ESI.
ata_write:
	push ecx	# kept
	push esi	# kept
	call ata_select	# the sector
	push eax	# kept
	mov dx, 0x1F7	# the command port
	mov al, 0x30	# WRITE SECTORS
	out dx, al	# issued
	call ata_drq	# wait until the disk takes data
	mov ecx, 256	# 256 words
	mov dx, 0x1F0	# the data port
	rep outsw	# written
	call ata_idle	# wait until the disk has them
	pop eax	# restored
	pop esi	# restored
	pop ecx	# restored
	ret
# ata_drq: wait until the disk is not busy and asks for data.
ata_drq:
	mov dx, 0x1F7	# the status port
ata_drq_poll:
	in al, dx	# the status
	test al, 0x80	# BSY?
	jnz ata_drq_poll	# still busy
	test al, 0x21	# ERR or DF?
	jnz disk_error	# the disk failed
	test al, 0x08	# DRQ?
	jz ata_drq_poll	# not yet
	ret
# ata_idle: wait until the disk is not busy.
ata_idle:
	mov dx, 0x1F7	# the status port
ata_idle_poll:
	in al, dx	# the status
	test al, 0x80	# BSY?
	jnz ata_idle_poll	# still busy
	test al, 0x21	# ERR or DF?
	jnz disk_error	# the disk failed
	ret
disk_error:
	mov esi, offset s_disk	# "disk error"
	call puts	# said
	jmp reset	# stop

# ---- the console: COM1 ----
# putc: write AL. Keeps every register.
putc:
	push edx	# kept
	push eax	# kept
	mov dx, 0x3FD	# line status
putc_wait:
	in al, dx	# the status
	test al, 0x20	# transmitter ready?
	jz putc_wait	# not yet
	pop eax	# the byte
	mov dx, 0x3F8	# the data port
	out dx, al	# sent
	pop edx	# restored
	ret
# puts: write the string at ESI up to its zero byte. Keeps all but ESI, EAX.
puts:
	lodsb	# the next byte
	test al, al	# the end?
	jz puts_end	# yes
	call putc	# write it
	jmp puts	# next
puts_end:
	ret
newline:
	mov al, 0x0A	# a line feed
	jmp putc	# written
# puthex: write EAX as eight upper-case hex digits.
puthex:
	mov ecx, 8	# eight digits
puthex_digit:
	rol eax, 4	# the top digit comes to the bottom
	push eax	# kept
	and al, 0x0F	# the digit
	add al, 0x30	# '0'-'9'
	cmp al, 0x39	# above '9'?
	jbe puthex_put	# no
	add al, 7	# 'A'-'F'
puthex_put:
	call putc	# written
	pop eax	# the rest
	loop puthex_digit	# next digit
	ret

# ---- faults ----
# Every vector but 0x80 lands here: report, then reset.
fault:
	mov esi, offset s_fault	# "kernel: fault"
	call puts	# said
	mov ebx, 3	# three stack words: error code or EIP, CS or EIP, ...
fault_word:
	mov al, 0x20	# a space
	call putc	# written
	pop eax	# a word
	call puthex	# written
	dec ebx	# three of them
	jnz fault_word	# next
	call newline	# end the line
	jmp reset	# stop

# ---- strings ----
# strcmp: compare the strings at ESI and EDI; ZF set when equal.
strcmp:
	mov al, [esi]	# a byte of one
	cmp al, [edi]	# the other's
	jne strcmp_end	# differ: ZF clear
	inc esi	# next
	inc edi	# next
	test al, al	# both ended?
	jnz strcmp	# no: go on
strcmp_end:
	ret	# ZF set when equal
# copy_strv: copy the strings of the NULL-ended pointer array at ESI (ESI
# may be 0) to EDI, each with its zero byte; EAX = how many.
copy_strv:
	push ebx	# kept
	xor ebx, ebx	# the count
	test esi, esi	# no array?
	jz copy_strv_end	# then none
copy_strv_next:
	mov edx, [esi+ebx*4]	# the next pointer
	test edx, edx	# NULL?
	jz copy_strv_end	# the end
	inc ebx	# one more
copy_strv_byte:
	mov al, [edx]	# a byte
	inc edx	# next
	stosb	# copied
	test al, al	# its zero byte?
	jnz copy_strv_byte	# not yet
	jmp copy_strv_next	# next string
copy_strv_end:
	mov eax, ebx	# the count
	pop ebx	# restored
	ret

# ---- paths ----
# resolve: make the path at ESI absolute in PATHBUF, without ".", ".." or
# repeated slashes ("/" for the root). Keeps EBX, ECX, EDX.
resolve:
	mov edi, PATHBUF	# build it here
	cmp byte ptr [esi], 0x2F	# absolute?
	je resolve_part	# then the working directory does not count
	push esi	# kept
	mov esi, CWD	# start from the working directory
resolve_cwd:
	lodsb	# a byte
	test al, al	# its end?
	jz resolve_cwd_end	# yes
	stosb	# copied
	jmp resolve_cwd	# next
resolve_cwd_end:
	pop esi	# the path
	cmp edi, PATHBUF+1	# was it just "/"?
	jne resolve_part	# no
	dec edi	# the root is the empty prefix
resolve_part:
	cmp byte ptr [esi], 0x2F	# a slash?
	jne resolve_name	# no: a name starts
	inc esi	# skip it
	jmp resolve_part	# and any more
resolve_name:
	cmp byte ptr [esi], 0	# the end?
	je resolve_end	# yes
	cmp byte ptr [esi], 0x2E	# starts with '.'?
	jne resolve_copy	# no: an ordinary name
	mov al, [esi+1]	# the byte after
	test al, al	# "." at the end?
	jz resolve_dot	# skip it
	cmp al, 0x2F	# "./"?
	je resolve_dot	# skip it
	cmp al, 0x2E	# ".."?
	jne resolve_copy	# no: ".x" is a name
	mov al, [esi+2]	# the byte after ".."
	test al, al	# ".." at the end?
	jz resolve_up	# go up
	cmp al, 0x2F	# "../"?
	jne resolve_copy	# no: "..x" is a name
resolve_up:
	add esi, 2	# past ".."
resolve_up_back:
	cmp edi, PATHBUF	# at the root?
	je resolve_part	# ".." of the root is the root
	dec edi	# drop a byte of the last name
	cmp byte ptr [edi], 0x2F	# up to its slash
	jne resolve_up_back	# not yet
	jmp resolve_part	# next name
resolve_dot:
	inc esi	# past "."
	jmp resolve_part	# next name
resolve_copy:
	mov al, 0x2F	# a slash
	stosb	# before the name
resolve_copy_byte:
	lodsb	# a byte of the name
	test al, al	# the path's end?
	jz resolve_end_dec	# yes
	cmp al, 0x2F	# the name's end?
	je resolve_part	# yes
	stosb	# copied
	jmp resolve_copy_byte	# next byte
resolve_end_dec:
	dec esi	# back on the zero byte
resolve_end:
	cmp edi, PATHBUF	# empty?
	jne resolve_done	# no
	mov al, 0x2F	# the root is "/"
	stosb	# written
resolve_done:
	mov byte ptr [edi], 0	# the end
	ret

# ---- the file table ----
# lookup: EAX = the newest entry named PATHBUF, or 0, following symbolic
# links (up to 8; PATHBUF is then the target's path). Keeps EBX, ECX, EDX.
lookup:
	push ecx	# kept
	push edx	# kept
	mov edx, 8	# links it follows at most
lookup_again:
	mov ecx, [nfiles]	# from the newest entry
lookup_next:
	jecxz lookup_none	# none left
	dec ecx	# the entry before
	mov eax, ecx	# its index
	shl eax, 5	# times 32
	add eax, FILES	# its address
	mov esi, [eax+F_NAME]	# its name
	mov edi, PATHBUF	# the path
	push eax	# kept
	call strcmp	# equal?
	pop eax	# restored
	jne lookup_next	# no
	cmp dword ptr [eax+F_DIR], 2	# a symbolic link?
	je lookup_link	# then its target
	pop edx	# restored
	pop ecx	# restored
	ret
lookup_none:
	xor eax, eax	# not found
	pop edx	# restored
	pop ecx	# restored
	ret
lookup_link:
	dec edx	# one link fewer
	jz lookup_none	# too many: not found
	mov ecx, eax	# the link's entry (ECX is free until lookup_again)
	mov edi, LINKBUF	# build the target's path here
	mov esi, [ecx+F_DATA]	# the target, as written
	cmp byte ptr [esi], 0x2F	# absolute?
	je lookup_target	# then it is the path
	mov esi, [ecx+F_NAME]	# else it starts in the link's directory
lookup_dir:
	lodsb	# copy the link's name
	stosb	# with its zero byte
	test al, al	# the end?
	jnz lookup_dir	# not yet
lookup_cut:
	dec edi	# back
	cmp byte ptr [edi], 0x2F	# to its last slash
	jne lookup_cut	# (the name is absolute: there is one)
	inc edi	# keep the slash
	mov esi, [ecx+F_DATA]	# then the target
lookup_target:
	lodsb	# copy it
	stosb	# with its zero byte
	test al, al	# the end?
	jnz lookup_target	# not yet
	mov esi, LINKBUF	# an absolute path
	call resolve	# PATHBUF = the target, cleaned
	jmp lookup_again	# look it up
# create: EAX = a new entry named PATHBUF, empty, its contents at the
# heap's top. Keeps EBX, ECX, EDX.
create:
	push ebx	# kept
	push ecx	# kept
	mov eax, [nfiles]	# the next index
	cmp eax, MAXFILES	# room?
	jae full	# no
	inc dword ptr [nfiles]	# taken
	shl eax, 5	# times 32
	add eax, FILES	# its address
	mov edi, [heap_top]	# the name goes on the heap
	mov [eax+F_NAME], edi	# there
	mov esi, PATHBUF	# copied from PATHBUF
create_name:
	movsb	# a byte
	cmp byte ptr [esi-1], 0	# its zero byte?
	jne create_name	# not yet
	mov ebx, edi	# the heap's new top
	call heap_check	# within the heap?
	mov [heap_top], edi	# taken
	mov [eax+F_DATA], edi	# the contents start there
	xor ecx, ecx	# zero
	mov [eax+F_LEN], ecx	# empty
	mov [eax+F_CAP], ecx	# nothing reserved
	mov [eax+F_DIR], ecx	# a file
	pop ecx	# restored
	pop ebx	# restored
	ret
# make_dir: a directory entry named PATHBUF.
make_dir:
	call create	# an entry
	mov dword ptr [eax+F_DIR], 1	# a directory
	ret
# heap_check: stop when EBX, a new heap top, is past the heap.
heap_check:
	cmp ebx, HEAP_END	# past it?
	jae full	# yes
	ret
full:
	mov esi, offset s_full	# "out of memory"
	call puts	# said
	jmp reset	# stop

# ---- system calls ----
isr80:
	cld	# string instructions count up
	pushad	# save every register (EAX at [ESP+28])
	call syscall	# EAX = the result
	mov [esp+28], eax	# returned in EAX
	popad	# restore the others
	iretd	# back to the program
syscall:
	cmp eax, 1	# exit
	je sys_exit
	cmp eax, 252	# exit_group
	je sys_exit
	cmp eax, 2	# fork
	je sys_fork
	cmp eax, 3	# read
	je sys_read
	cmp eax, 4	# write
	je sys_write
	cmp eax, 5	# open
	je sys_open
	cmp eax, 6	# close
	je sys_close
	cmp eax, 7	# waitpid
	je sys_wait
	cmp eax, 114	# wait4
	je sys_wait
	cmp eax, 11	# execve
	je sys_execve
	cmp eax, 10	# unlink
	je sys_unlink
	cmp eax, 40	# rmdir
	je sys_unlink
	cmp eax, 83	# symlink
	je sys_symlink
	cmp eax, 12	# chdir
	je sys_chdir
	cmp eax, 19	# lseek
	je sys_lseek
	cmp eax, 33	# access
	je sys_access
	cmp eax, 39	# mkdir
	je sys_mkdir
	cmp eax, 45	# brk
	je sys_brk
	cmp eax, 183	# getcwd
	je sys_getcwd
	cmp eax, 20	# getpid
	je sys_getpid
	cmp eax, 15	# chmod
	je sys_ok
	cmp eax, 60	# umask
	je sys_ok
	mov eax, -38	# ENOSYS for the rest
	ret
sys_ok:
	xor eax, eax	# success, nothing done
	ret
sys_getpid:
	mov eax, [cur_pid]	# the running process
	ret

# fd_entry: EBX = descriptor (3 to NFDS-1); EDI = its slot, EAX = its entry; on a
# bad descriptor returns -EBADF from the system call itself.
fd_entry:
	cmp ebx, NFDS	# in the table?
	jae fd_bad	# no
	lea edi, [FDS+ebx*8]	# the slot
	mov eax, [edi]	# its entry
	test eax, eax	# open?
	jz fd_bad	# no
	ret
fd_bad:
	pop eax	# drop fd_entry's return address
	mov eax, -9	# EBADF
	ret	# from the system call

# read(fd, buf, count)
sys_read:
	cmp ebx, 3	# the console?
	jb sys_ok	# reads nothing
	call fd_entry	# EDI = slot, EAX = entry
	mov esi, [eax+F_DATA]	# the contents
	add esi, [edi+4]	# from the offset
	mov eax, [eax+F_LEN]	# the length
	sub eax, [edi+4]	# bytes left
	jg read_some	# any?
	xor eax, eax	# none: end of file
	ret
read_some:
	cmp eax, edx	# more than asked for?
	jbe read_copy	# no
	mov eax, edx	# only count
read_copy:
	add [edi+4], eax	# the offset moves on
	mov edi, ecx	# to buf
	mov ecx, eax	# that many
	rep movsb	# copied
	ret	# EAX bytes

# write(fd, buf, count)
sys_write:
	cmp ebx, 3	# the console?
	jb write_console	# yes
	call fd_entry	# EDI = slot, EAX = entry
	mov esi, ecx	# from buf
	mov ebx, eax	# the entry
	mov ecx, [edi+4]	# the offset
	add ecx, edx	# where the write ends
	cmp ecx, [ebx+F_CAP]	# within the reserved bytes?
	jbe write_copy	# yes
	mov eax, [ebx+F_DATA]	# the contents
	add eax, [ebx+F_CAP]	# their reserved end
	cmp eax, [heap_top]	# the heap's top?
	jne write_move	# no: move the contents there
	push ebx	# kept
	mov ebx, [ebx+F_DATA]	# grow in place
	add ebx, ecx	# to the write's end
	call heap_check	# within the heap?
	mov [heap_top], ebx	# taken
	pop ebx	# the entry
	mov eax, ecx	# the new capacity
	jmp write_cap	# recorded
write_move:
	push esi	# kept
	push edi	# kept
	push ecx	# kept
	lea eax, [ecx+ecx+4096]	# twice what is needed, and a page
	mov edi, [heap_top]	# the new place
	push ebx	# the entry
	lea ebx, [edi+eax]	# the heap's new top
	call heap_check	# within the heap?
	mov [heap_top], ebx	# taken
	pop ebx	# the entry
	mov esi, [ebx+F_DATA]	# the old contents
	mov [ebx+F_DATA], edi	# the new place
	mov ecx, [ebx+F_LEN]	# their length
	rep movsb	# moved
	pop ecx	# restored
	pop edi	# restored
	pop esi	# restored
write_cap:
	mov [ebx+F_CAP], eax	# the new capacity
write_copy:
	push edi	# the slot
	mov eax, [edi+4]	# the offset
	mov [edi+4], ecx	# moves past the write
	cmp ecx, [ebx+F_LEN]	# past the end?
	jbe write_len	# no
	mov [ebx+F_LEN], ecx	# the file is longer
write_len:
	mov edi, [ebx+F_DATA]	# the contents
	add edi, eax	# at the offset
	mov ecx, edx	# count bytes
	rep movsb	# written
	pop edi	# the slot
	mov eax, edx	# count written
	ret
write_console:
	mov esi, ecx	# from buf
	mov ecx, edx	# count bytes
	jecxz write_console_end	# none
write_console_byte:
	lodsb	# a byte
	call putc	# written
	loop write_console_byte	# next
write_console_end:
	mov eax, edx	# count written
	ret

# open(path, flags, mode)
sys_open:
	mov esi, ebx	# the path
	call resolve	# PATHBUF; keeps ECX
	call lookup	# EAX = the entry
	test eax, eax	# found?
	jz open_missing	# no
	test ecx, 0x80	# O_EXCL?
	jz open_trunc	# no
	test ecx, 0x40	# with O_CREAT?
	jz open_trunc	# no: O_EXCL alone means nothing
	mov eax, -17	# EEXIST
	ret
open_trunc:
	test ecx, 0x200	# O_TRUNC?
	jz open_fd	# no: the file as it is
	jmp open_new	# yes: a new, empty file
open_missing:
	test ecx, 0x40	# O_CREAT?
	jz open_enoent	# no: ENOENT
open_new:
	call create	# EAX = a new entry
open_fd:
	mov ebx, 3	# the lowest free descriptor from 3
open_slot:
	cmp dword ptr [FDS+ebx*8], 0	# free?
	je open_found	# yes
	inc ebx	# next
	cmp ebx, NFDS	# in the table?
	jb open_slot	# yes
	mov eax, -24	# EMFILE
	ret
open_found:
	mov [FDS+ebx*8], eax	# the entry
	xor edx, edx	# offset 0
	test ecx, 0x400	# O_APPEND?
	jz open_offset	# no
	mov edx, [eax+F_LEN]	# then from the end
open_offset:
	mov [FDS+ebx*8+4], edx	# the offset
	mov eax, ebx	# the descriptor
	ret
open_enoent:
	mov eax, -2	# ENOENT
	ret

# symlink(target, path): an entry of kind 2 whose contents are the target
sys_symlink:
	mov esi, ecx	# the link's path
	call resolve	# PATHBUF; keeps EBX
	call create	# EAX = a new entry
	mov edx, eax	# kept in EDX: the copy below uses AL
	mov dword ptr [edx+F_DIR], 2	# a symbolic link
	mov edi, [edx+F_DATA]	# its contents, at the heap's top
	mov esi, ebx	# the target
symlink_byte:
	lodsb	# copy it
	stosb	# with its zero byte
	test al, al	# the end?
	jnz symlink_byte	# not yet
	mov ebx, edi	# the heap's new top
	call heap_check	# within the heap?
	mov [heap_top], edi	# taken
	sub edi, [edx+F_DATA]	# the length with the zero byte
	mov [edx+F_CAP], edi	# reserved
	dec edi	# without it
	mov [edx+F_LEN], edi	# the target's length
	xor eax, eax	# 0
	ret

# unlink(path), rmdir(path): the entry loses its name
sys_unlink:
	mov esi, ebx	# the path
	call resolve	# PATHBUF
	call lookup	# EAX = its entry
	test eax, eax	# found?
	jz open_enoent	# no: ENOENT
	mov dword ptr [eax+F_NAME], offset s_none	# a name no path matches
	xor eax, eax	# 0
	ret

# close(fd)
sys_close:
	cmp ebx, 3	# the console?
	jb sys_ok	# stays open
	call fd_entry	# EDI = slot
	xor eax, eax	# zero
	mov [edi], eax	# the slot is free
	ret	# 0

# lseek(fd, offset, whence)
sys_lseek:
	call fd_entry	# EDI = slot, EAX = entry
	test edx, edx	# SEEK_SET?
	jz lseek_set	# from 0
	cmp edx, 1	# SEEK_CUR?
	je lseek_cur	# from the offset
	add ecx, [eax+F_LEN]	# SEEK_END: from the end
	jmp lseek_set	# set
lseek_cur:
	add ecx, [edi+4]	# from the offset
lseek_set:
	mov [edi+4], ecx	# the new offset
	mov eax, ecx	# returned
	ret

# access(path, mode) and chdir(path): the path must exist
sys_access:
	mov esi, ebx	# the path
	call resolve	# PATHBUF
exists:
	cmp word ptr [PATHBUF], 0x2F	# the root always exists
	je sys_ok	# 0
	call lookup	# EAX = its entry
	test eax, eax	# found?
	jz open_enoent	# no: ENOENT
	xor eax, eax	# 0
	ret
sys_chdir:
	mov esi, ebx	# the path
	call resolve	# PATHBUF
	call exists	# EAX = 0 or -ENOENT
	test eax, eax	# exists?
	jnz chdir_end	# no
	mov esi, PATHBUF	# copy it
	mov edi, CWD	# to the working directory
	mov ecx, 1024	# 4 KiB
	rep movsd	# copied
chdir_end:
	ret

# mkdir(path, mode)
sys_mkdir:
	mov esi, ebx	# the path
	call resolve	# PATHBUF
	call exists	# EAX = 0 if it exists
	test eax, eax	# exists?
	jz mkdir_exists	# yes
	call make_dir	# a new directory
	xor eax, eax	# 0
	ret
mkdir_exists:
	mov eax, -17	# EEXIST
	ret

# getcwd(buf, size)
sys_getcwd:
	mov esi, CWD	# the working directory
	mov edi, ebx	# to buf
	xor eax, eax	# its length so far
getcwd_byte:
	cmp eax, ecx	# room left?
	jae getcwd_range	# no
	inc eax	# one more byte
	movsb	# copied
	cmp byte ptr [esi-1], 0	# its zero byte?
	jne getcwd_byte	# not yet
	ret	# the length with the zero byte
getcwd_range:
	mov eax, -34	# ERANGE
	ret

# brk(addr)
sys_brk:
	mov eax, [brk]	# the break
	cmp ebx, [image_lo]	# a new break above the image?
	jbe brk_end	# no: just report it
	cmp ebx, PROG_END	# below the programs' end?
	jae brk_end	# no: refuse
	mov edi, eax	# zero from the old break
	mov ecx, ebx	# to the new one
	sub ecx, eax	# that many bytes
	jbe brk_set	# when it grows
	xor eax, eax	# zeros
	rep stosb	# so new memory is zero, as on Linux
brk_set:
	mov [brk], ebx	# the new break
	mov eax, ebx	# returned
brk_end:
	ret

# waitpid(pid, status, options), wait4(pid, status, options, rusage)
sys_wait:
	cmp dword ptr [child_ready], 0	# a child exited?
	je wait_none	# no
	mov dword ptr [child_ready], 0	# taken
	jecxz wait_pid	# no status wanted
	mov eax, [child_status]	# its status
	mov [ecx], eax	# stored
wait_pid:
	mov eax, [child_pid]	# its pid
	ret
wait_none:
	mov eax, -10	# ECHILD
	ret

# fork(): save the parent, go on as the child
sys_fork:
	lea ebp, [esp+4]	# the parent's saved registers
	mov edi, [cur_rec]	# the newest record
	test edi, edi	# any?
	mov eax, SAVE	# none: start at the save stack's base
	jz fork_at	# so
	mov eax, [edi+R_END]	# else after it
fork_at:
	mov [eax+R_PREV], edi	# the record before
	mov [eax+R_ESP], ebp	# the parent's stack pointer
	mov ecx, [image_lo]	# its image
	mov [eax+R_LO], ecx	# saved
	mov ecx, [brk]	# its break
	mov [eax+R_BRK], ecx	# saved
	mov ecx, [cur_pid]	# its pid
	mov [eax+R_PID], ecx	# saved
	mov [cur_rec], eax	# the newest record
	lea edi, [eax+R_FDS]	# copy the descriptors
	mov esi, FDS	# from the table
	mov ecx, NFDS*2	# NFDS*8 bytes
	rep movsd	# copied
	mov esi, CWD	# the working directory, R_CWD
	mov ecx, 1024	# 4 KiB
	rep movsd	# copied
	mov esi, [image_lo]	# the image, R_MEM
	mov ecx, [brk]	# up to the break
	sub ecx, esi	# its size
	lea ebx, [edi+ecx]	# the record would end after it
	call save_check	# within the save stack?
	rep movsb	# copied
	mov esi, ebp	# the stack from the saved registers
	mov ecx, USTACK	# to its top
	sub ecx, esi	# its size
	lea ebx, [edi+ecx]	# the record's end
	call save_check	# within the save stack?
	rep movsb	# copied
	mov [eax+R_END], edi	# the record ends here
	inc dword ptr [next_pid]	# a new pid
	mov eax, [next_pid]	# for the child
	mov [cur_pid], eax	# which runs now
	xor eax, eax	# fork returns 0 in the child
	ret
save_check:
	cmp ebx, SAVE_END	# past the save stack?
	jae full	# yes
	ret

# exit(status): back to the parent, or to the shell
sys_exit:
	mov esp, KSTACK	# off the process's stack, which is restored below
	mov edi, [cur_rec]	# the parent's record
	test edi, edi	# any?
	jz shell	# no: the shell started this process
	movzx ebx, bl	# the status's low byte
	shl ebx, 8	# as a wait status: exited, with that code
	mov [child_status], ebx	# for waitpid
	mov eax, [cur_pid]	# this process
	mov [child_pid], eax	# for waitpid
	mov dword ptr [child_ready], 1	# waitpid may take it
	mov eax, [edi+R_PREV]	# the record before
	mov [cur_rec], eax	# becomes the newest
	mov eax, [edi+R_LO]	# the parent's image
	mov [image_lo], eax	# restored
	mov eax, [edi+R_BRK]	# its break
	mov [brk], eax	# restored
	mov eax, [edi+R_PID]	# its pid
	mov [cur_pid], eax	# restored
	mov ebp, [edi+R_ESP]	# its stack pointer
	lea esi, [edi+R_FDS]	# the descriptors
	mov edi, FDS	# to the table
	mov ecx, NFDS*2	# NFDS*8 bytes
	rep movsd	# restored
	mov edi, CWD	# the working directory
	mov ecx, 1024	# 4 KiB
	rep movsd	# restored
	mov edi, [image_lo]	# the image
	mov ecx, [brk]	# up to the break
	sub ecx, edi	# its size
	rep movsb	# restored
	mov edi, ebp	# the stack
	mov ecx, USTACK	# to its top
	sub ecx, edi	# its size
	rep movsb	# restored
	mov esp, ebp	# the parent's saved registers
	mov eax, [child_pid]	# fork returns the child's pid
	mov [esp+28], eax	# in EAX
	popad	# the parent's registers
	iretd	# back into the parent

# execve(path, argv, envp)
sys_execve:
	mov esi, ebx	# the path
	call find_exec	# EAX = its entry, or -errno
	test eax, eax	# found?
	js execve_end	# no: the error
	push eax	# the entry
	mov edi, ARGBUF+8	# copy the strings
	mov esi, ecx	# of argv
	push edx	# envp
	call copy_strv	# EAX = argc
	mov [ARGBUF], eax	# kept
	pop esi	# envp
	call copy_strv	# EAX = envc
	mov [ARGBUF+4], eax	# kept
	mov [argend], edi	# the strings' end
	pop eax	# the entry
	jmp load_exec	# replace the process
execve_end:
	ret

# find_exec: EAX = the entry of the program at path ESI, -ENOENT when there
# is none, -ENOEXEC when it is no ELF file or a segment falls outside
# PROG_START-PROG_END. Keeps ECX, EDX.
find_exec:
	call resolve	# PATHBUF
	call lookup	# EAX = its entry
	test eax, eax	# found?
	jz open_enoent	# no: ENOENT
	mov esi, [eax+F_DATA]	# its contents
	cmp dword ptr [esi], 0x464C457F	# "\x7fELF"?
	jne find_exec_bad	# no
	push ecx	# kept
	push edx	# kept
	movzx ecx, word ptr [esi+0x2C]	# e_phnum
	mov edx, [esi+0x1C]	# e_phoff
	add edx, esi	# the first program header
find_exec_seg:
	jecxz find_exec_ok	# every header checked
	cmp dword ptr [edx], 1	# PT_LOAD?
	jne find_exec_next	# no: not loaded
	mov edi, [edx+8]	# p_vaddr
	cmp edi, PROG_START	# above the kernel's tables?
	jb find_exec_refuse	# no
	add edi, [edx+20]	# + p_memsz
	jc find_exec_refuse	# past 4 GiB
	cmp edi, PROG_END	# below the stack?
	ja find_exec_refuse	# no
find_exec_next:
	movzx edi, word ptr [esi+0x2A]	# e_phentsize
	add edx, edi	# the next header
	dec ecx	# one fewer
	jmp find_exec_seg	# check it
find_exec_refuse:
	mov eax, -8	# ENOEXEC: it would overwrite the kernel's memory
find_exec_ok:
	pop edx	# restored
	pop ecx	# restored
	ret
find_exec_bad:
	mov eax, -8	# ENOEXEC
	ret

# load_exec: replace the running process with the program of entry EAX,
# with the arguments in ARGBUF; never returns.
load_exec:
	mov esp, KSTACK	# off the process's stack
	mov ebx, [eax+F_DATA]	# the ELF file
	mov dword ptr [image_lo], 0xFFFFFFFF	# the lowest address, so far none
	mov dword ptr [brk], 0	# the highest, so far none
	movzx ecx, word ptr [ebx+0x2C]	# e_phnum
	mov edx, [ebx+0x1C]	# e_phoff
	add edx, ebx	# the first program header
load_segment:
	jecxz load_stack	# every header done
	cmp dword ptr [edx], 1	# PT_LOAD?
	jne load_next	# no: skip it
	push ecx	# kept
	mov edi, [edx+8]	# p_vaddr
	cmp edi, [image_lo]	# the lowest so far?
	jae load_copy	# no
	mov [image_lo], edi	# yes
load_copy:
	mov esi, [edx+4]	# p_offset
	add esi, ebx	# in the file
	mov ecx, [edx+16]	# p_filesz
	rep movsb	# copied
	mov ecx, [edx+20]	# p_memsz
	sub ecx, [edx+16]	# minus p_filesz
	xor eax, eax	# zeros
	rep stosb	# the rest is zero
	cmp edi, [brk]	# the highest so far?
	jbe load_done	# no
	mov [brk], edi	# yes: the break
load_done:
	pop ecx	# restored
load_next:
	movzx eax, word ptr [ebx+0x2A]	# e_phentsize
	add edx, eax	# the next header
	dec ecx	# one fewer
	jmp load_segment	# next
load_stack:
	mov esi, ARGBUF+8	# the strings
	mov ecx, [argend]	# their end
	sub ecx, esi	# their size
	mov edi, USTACK	# at the stack's top
	sub edi, ecx	# below it
	and edi, 0xFFFFFFFC	# aligned
	mov ebp, edi	# where the strings are
	rep movsb	# copied
	mov eax, [ARGBUF]	# argc
	add eax, [ARGBUF+4]	# + envc
	lea eax, [eax*4+12]	# pointers, two NULLs and argc
	mov edi, ebp	# below the strings
	sub edi, eax	# room for them
	and edi, 0xFFFFFFF0	# aligned
	push edi	# the program's stack pointer
	mov eax, [ARGBUF]	# argc
	stosd	# first
	mov esi, ebp	# the strings
	mov ecx, [ARGBUF]	# argv's pointers
	call load_ptrs	# stored, then NULL
	mov ecx, [ARGBUF+4]	# envp's pointers
	call load_ptrs	# stored, then NULL
	mov eax, [ebx+0x18]	# e_entry
	pop esp	# the program's stack
	push eax	# where it starts
	xor eax, eax	# every register zero, as Linux starts it
	xor ebx, ebx
	xor ecx, ecx
	xor edx, edx
	xor esi, esi
	xor edi, edi
	xor ebp, ebp
	ret	# jump to e_entry with ESP on argc
# load_ptrs: store ECX pointers to the strings from ESI at EDI, then NULL.
load_ptrs:
	jecxz load_ptrs_end	# none left
	mov eax, esi	# this string
	stosd	# its pointer
load_ptrs_skip:
	lodsb	# skip it
	test al, al	# its zero byte?
	jnz load_ptrs_skip	# not yet
	loop load_ptrs	# next
load_ptrs_end:
	xor eax, eax	# NULL
	stosd	# ends the array
	ret

# ---- text ----
hello:
	.asciz "bootchain kernel\n"
s_src:
	.asciz "src"
s_hex0:
	.asciz "hex0"
s_hda:
	.asciz "/dev/hda"
s_finished:
	.asciz "Build finished.\n"
s_nohda:
	.asciz "ERROR: no hda writes!\n"
s_norun:
	.asciz "kernel: no such program\n"
s_bad:
	.asciz "kernel: bad command\n"
s_disk:
	.asciz "kernel: disk error\n"
s_full:
	.asciz "kernel: out of memory\n"
s_fault:
	.asciz "kernel: fault"
s_none:
	.byte 0	# the empty name of an unlinked entry
