# bootchain stage 1: a BIOS boot sector that assembles the kernel's hex0
# text from the disk and jumps to it. Written for bootchain from scratch.
#
# The BIOS loads this sector at 0x7C00 and jumps to it in 16-bit real mode
# with the boot drive in DL. It reads sector 1, 2, 3... of that drive with
# int 13h AH=42h (extended read, LBA) into 0x7E00, one sector at a time,
# and turns the text into bytes at 0x8000: a pair of hex digits (0-9, A-F,
# a-f) is one byte, first digit high; '#' and ';' start a comment that
# ends at the line feed; every other byte is skipped. The first zero byte
# ends the text: stage 1 jumps to 0x0000:0x8000 with DL still the drive.
# A read error prints '!' and halts.
#
# Registers: SI = next text byte, DI = next output byte, BL = 1 inside a
# comment, CL = 1 when a high digit is pending in CH.
	.intel_syntax noprefix
	.code16
	.set BUF, 0x7E00	# the sector being read
	.set KERNEL, 0x8000	# where the kernel's bytes go
	.text
start:
	cli	# no interrupts while the stack moves
	xor ax, ax	# AX = 0 for the segment registers
	mov ds, ax	# DS = 0: addresses are physical
	mov es, ax	# ES = 0: STOSB writes to ES:DI
	mov ss, ax	# SS = 0
	mov sp, 0x7C00	# the stack grows down from this sector
	sti	# the BIOS needs interrupts for the disk
	ljmp 0, offset go	# CS = 0 too (some BIOSes jump to 07C0:0000)
go:
	mov [drive], dl	# keep the boot drive for every read
	mov di, KERNEL	# output pointer
	xor bx, bx	# BL = 0: not in a comment
	xor cx, cx	# CL = 0: no digit pending
read:
	mov si, offset dap	# DS:SI = the disk address packet
	mov dl, [drive]	# DL = the drive
	mov ah, 0x42	# extended read
	int 0x13	# read one sector to BUF
	jc fail	# carry: the read failed
	mov si, BUF	# parse the sector from its start
scan:
	cmp si, BUF+512	# past the sector's end?
	je next	# then read the next sector
	lodsb	# AL = the next text byte
	test al, al	# a zero byte?
	jz done	# ends the text
	test bl, bl	# inside a comment?
	jz code	# no
	cmp al, 0x0A	# a line feed?
	jne scan	# no: skip the byte
	mov bl, 0	# yes: the comment ends
	jmp scan	# next byte
code:
	cmp al, 0x23	# '#'?
	je comment	# starts a comment
	cmp al, 0x3B	# ';'?
	je comment	# starts a comment too
	sub al, 0x30	# '0'-'9' become 0-9
	cmp al, 10	# a decimal digit?
	jb digit	# yes
	add al, 0x30	# back to the byte
	or al, 0x20	# 'A'-'F' become 'a'-'f'
	sub al, 0x61	# 'a'-'f' become 0-5
	cmp al, 6	# a letter digit?
	jae scan	# no: skip the byte
	add al, 10	# its value, 10-15
digit:
	xor cl, 1	# flip "a digit is pending"
	jz low	# it was pending: this is the low digit
	shl al, 4	# the high digit, shifted
	mov ch, al	# kept in CH
	jmp scan	# next byte
low:
	or al, ch	# join both digits
	stosb	# store the byte at ES:DI, DI += 1
	jmp scan	# next byte
comment:
	mov bl, 1	# inside a comment until the line feed
	jmp scan	# next byte
next:
	inc dword ptr [lba]	# the next sector
	jmp read	# read it
done:
	mov dl, [drive]	# the kernel gets the drive in DL
	ljmp 0, KERNEL	# run the kernel
fail:
	mov ax, 0x0E21	# AH = 0Eh teletype output, AL = '!'
	int 0x10	# print it
halt:
	hlt	# stop here
	jmp halt	# for good
dap:
	.byte 16, 0	# packet size 16, reserved
	.word 1	# one sector
	.word BUF, 0	# to 0000:7E00
lba:
	.long 1, 0	# the sector number, 64 bits: starts at 1
drive:
	.byte 0	# the boot drive, set at start
	.fill 510-(. - start), 1, 0	# zeros up to the signature
	.byte 0x55, 0xAA	# the boot signature
