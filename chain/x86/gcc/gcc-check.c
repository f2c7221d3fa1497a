/* bootchain's check at the end of step gcc: the installed gcc compiles,
   assembles (tcc, through gcc-as.sh) and links (tcc, gcc-ld.sh) this
   program with -O2 against musl; it prints one line the step compares. */
#include <stdio.h>

int main(void)
{
	int i, sum = 0;
	long long p = 1;
	for (i = 1; i <= 100; i++)
		sum += i;
	for (i = 0; i < 40; i++)
		p *= 2;
	printf("gcc %d.%d.3: 1+2+...+100 = %d, 2^40 = %lld\n", __GNUC__, __GNUC_MINOR__, sum, p);
	return 0;
}
