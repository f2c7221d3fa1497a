/* bootchain x86 chain: the program the make step's check builds. It writes
   its arguments after the first, separated by spaces and ended by a
   newline, to the file the first names, and says so on stdout. There is no
   shell to redirect output yet, hence the file argument. */
#include <stdio.h>

int
main(int argc, char **argv)
{
	FILE *f;
	int i;

	if (argc < 2) {
		fputs("usage: make-check FILE WORD...\n", stderr);
		return 2;
	}
	f = fopen(argv[1], "w");
	if (f == NULL) {
		fprintf(stderr, "make-check: cannot write %s\n", argv[1]);
		return 1;
	}
	for (i = 2; i < argc; i++) {
		fputs(argv[i], f);
		fputc(i + 1 < argc ? ' ' : '\n', f);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "make-check: cannot write %s\n", argv[1]);
		return 1;
	}
	printf("make-check: wrote %s\n", argv[1]);
	return 0;
}
