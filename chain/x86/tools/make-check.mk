# bootchain x86 chain, step make: the makefile that checks the new make.
# There is no shell yet: make runs each command itself, so no command
# here has a character a shell would have to read. make compiles
# /make-check.c by the pattern rule, links it and runs the program, which
# writes its arguments (make's expansions) to make.txt.

CC = tcc
TOOLS = make patch gzip tar sed

make.txt: make-check
	./make-check $@ from $< with $(words $(TOOLS)) tools: $(patsubst %,+%,$(TOOLS)) $(TOOLS:%=%.kaem)

make-check: make-check.o
	$(CC) -static -o $@ $^

%.o: /%.c
	$(CC) -c -o $@ $<
