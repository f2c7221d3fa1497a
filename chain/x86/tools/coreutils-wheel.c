/*
 * bootchain x86 chain, step coreutils: writes src/wheel-size.h and
 * src/wheel.h, the two headers coreutils 5.0's factor.c includes. The
 * release archive carries them (made by a Perl script at release time);
 * the git tag v5.0 does not, and there is no Perl this early, so this
 * program computes the same table.
 *
 * factor divides by 2, 3, 5, 7 and 11 (the first WHEEL primes), then only
 * by numbers prime to all five. The table holds the steps between those
 * candidates: from 2 to 3, 5, 7 and 11 first, then on through every number
 * prime to 2*3*5*7*11 = 2310 until one past 2311, whence factor.c goes
 * round the wheel again from entry WHEEL.
 *
 * Usage: coreutils-wheel DIR  (writes DIR/wheel-size.h and DIR/wheel.h)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHEEL 5

static int small_prime(int n)
{
	int d;
	for (d = 2; d * d <= n; d = d + 1) {
		if (n % d == 0) {
			return 0;
		}
	}
	return 1;
}

static FILE *create(char *dir, char *name)
{
	char path[512];
	FILE *f;
	if (strlen(dir) + strlen(name) + 2 > sizeof path) {
		fputs("coreutils-wheel: directory name too long\n", stderr);
		exit(1);
	}
	strcpy(path, dir);
	strcat(path, "/");
	strcat(path, name);
	f = fopen(path, "w");
	if (f == NULL) {
		fputs("coreutils-wheel: cannot create ", stderr);
		fputs(path, stderr);
		fputs("\n", stderr);
		exit(1);
	}
	return f;
}

int main(int argc, char **argv)
{
	int primes[WHEEL];
	int n_primes = 0;
	int product = 1;
	int i, j, prev, coprime, first;
	FILE *f;

	if (argc != 2) {
		fputs("usage: coreutils-wheel DIR\n", stderr);
		return 2;
	}
	for (i = 2; n_primes < WHEEL; i = i + 1) {
		if (small_prime(i)) {
			primes[n_primes] = i;
			n_primes = n_primes + 1;
			product = product * i;
		}
	}

	f = create(argv[1], "wheel-size.h");
	fprintf(f, "#define WHEEL_SIZE %d\n", WHEEL);
	if (fclose(f) != 0) {
		return 1;
	}

	f = create(argv[1], "wheel.h");
	fprintf(f, "/* Steps between trial divisors for factor.c: to the first %d primes,\n", WHEEL);
	fputs("   then round the wheel of numbers prime to all of them. */\n", f);
	prev = 2;
	first = 1;
	for (i = 3; ; i = i + 2) {
		coprime = 1;
		for (j = 0; j < WHEEL; j = j + 1) {
			if (i != primes[j] && i % primes[j] == 0) {
				coprime = 0;
			}
		}
		if (!coprime) {
			continue;
		}
		if (!first) {
			fputs(",\n", f);
		}
		fprintf(f, "%d", i - prev);
		first = 0;
		prev = i;
		if (i > product + 1) {
			break;
		}
	}
	fputs("\n", f);
	if (fclose(f) != 0) {
		return 1;
	}
	return 0;
}
