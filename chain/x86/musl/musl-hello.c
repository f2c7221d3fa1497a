/* bootchain x86 chain: the check of step tcc-musl-pass2, the final tcc
 * against the final musl: what Mes's C library cannot print (a long long)
 * and what the first musl printed wrong (a double, as 0.000). The step
 * compares its line with musl-hello.txt. */
#include <stdio.h>

int main(void)
{
	double d = 2.5;
	long long big = 1LL << 40;

	printf("%.3f %lld %g %lld\n", d, big, d * d / 3, -big / 7);
	return 0;
}
