/* bootchain x86 chain: the check of the steps from tcc-mes-pass2 to
 * musl-pass2. A C library test of what both Mes's C library and musl can
 * do: formatted output of ints and strings, strings, malloc, qsort,
 * strtol, a file written and read back, and an exit status. It prints its
 * lines to stdout; the step compares them with musl-check.txt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

int main(void)
{
	int v[] = {42, -7, 1000, 0, 13};
	char buf[64];
	char *s;
	FILE *f;
	int i;

	printf("printf: %d %5d|%-4d| %x %s\n", -12345, 42, 7, 0xbeef, "ok");

	qsort(v, 5, sizeof v[0], cmp);
	printf("qsort:");
	for (i = 0; i < 5; i++)
		printf(" %d", v[i]);
	printf("\n");

	s = malloc(32);
	strcpy(s, "boot");
	strcat(s, "chain");
	printf("string: %s %d %d\n", s, (int)strlen(s), strcmp(s, "bootchain") == 0);
	free(s);

	printf("strtol: %ld %ld\n", strtol("-2147483647", 0, 10), strtol("ff", 0, 16));

	f = fopen("musl-check.tmp", "w");
	if (!f)
		return 1;
	fputs("written and read back\n", f);
	fclose(f);
	f = fopen("musl-check.tmp", "r");
	if (!f || !fgets(buf, sizeof buf, f))
		return 2;
	fclose(f);
	remove("musl-check.tmp");
	printf("file: %s", buf);
	return 0;
}
