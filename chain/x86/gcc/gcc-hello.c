/* bootchain's gcc-hello.c: the program the first GCC compiles (-O2),
   assembles and links (with tcc, through gcc-as.sh and gcc-ld.sh) against
   musl in step gcc-hello. It uses stdio, stdlib and string, a struct, a
   loop, a function pointer table, qsort, 64-bit multiplication, division
   and remainder by numbers known only at run time (libgcc's __divdi3,
   __moddi3, __udivdi3), and prints doubles and long longs; step gcc-hello
   compares its output with gcc-hello.txt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct planet {
	const char *name;
	double au;		/* mean distance from the Sun */
	long long km;
};

typedef long long (*binop)(long long, long long);

static long long quotient(long long a, long long b) { return a / b; }
static long long remainder_of(long long a, long long b) { return a % b; }
static long long product(long long a, long long b) { return a * b; }

static int by_distance(const void *x, const void *y)
{
	const struct planet *a = x, *b = y;
	return a->au < b->au ? -1 : a->au > b->au;
}

/* steps of the Collatz sequence from n down to 1 */
static int collatz(long long n)
{
	int steps = 0;
	while (n != 1) {
		n = n % 2 ? 3 * n + 1 : n / 2;
		steps++;
	}
	return steps;
}

int main(void)
{
	struct planet p[4] = {
		{ "Mars", 1.523679, 0 },
		{ "Venus", 0.723332, 0 },
		{ "Jupiter", 5.2044, 0 },
		{ "Earth", 1.0, 0 },
	};
	binop ops[3] = { quotient, remainder_of, product };
	const char *names[3] = { "/", "%", "*" };
	char line[64] = "";
	long long f = 1, f13 = 0;
	long long x[3] = { 9007199254740993LL, 9007199254740993LL, 1000000007LL };
	long long y[3] = { 1000000007LL, 1000000007LL, 999999937LL };
	unsigned long long u = 18446744073709551557ULL;
	double sum = 0;
	int i;

	qsort(p, 4, sizeof p[0], by_distance);
	for (i = 0; i < 4; i++) {
		p[i].km = (long long)(p[i].au * 149597870.7);
		sum += p[i].au;
		strcat(line, p[i].name);
		strcat(line, i < 3 ? " < " : "");
	}
	printf("gcc-hello: GCC %d.%d compiled this with -O2\n", __GNUC__, __GNUC_MINOR__);
	printf("%s (%d letters)\n", line, (int)strlen(line));
	for (i = 0; i < 4; i++)
		printf("%-8s %9.6f au = %lld km\n", p[i].name, p[i].au, p[i].km);
	printf("mean distance %.4f au, %e km\n", sum / 4, sum / 4 * 149597870.7);
	for (i = 1; i <= 20; i++) {
		f *= i;
		if (i == 13)
			f13 = f;
	}
	printf("20! = %lld, 20!/13! = %lld\n", f, f / f13);
	for (i = 0; i < 3; i++)
		printf("%lld %s %lld = %lld\n", x[i], names[i], y[i], ops[i](x[i], y[i]));
	printf("%llu / 1000003 = %llu rest %llu\n", u, u / 1000003, u % 1000003);
	printf("collatz(837799) takes %d steps\n", collatz(837799));
	return 0;
}
