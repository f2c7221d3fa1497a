/* bootchain x86 chain, step tcc-hello: TinyCC 0.9.27 (step tcc-0.9.27)
   compiles and links this program against the Mes C library it built;
   the program exercises what the next steps of the road lean on: stdio
   (fopen, fprintf, fclose), malloc and free, the string functions, 64-bit
   `long long` arithmetic (its division and remainder come from libtcc1),
   and a struct passed and returned by value. It writes one line to the
   file named by its first argument, which the chain pins, and prints it.
   Any wrong result makes the line say so, and the exit status non-zero. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sample
{
  long long big;
  int small;
  char tag[8];
};

static struct sample
doubled (struct sample s)
{
  s.big = s.big * 2;
  s.small = s.small * 2;
  s.tag[0] = 'D';
  return s;
}

/* Decimal digits of n, with no help from printf's length modifiers. */
static char *
decimal (unsigned long long n, char *buf)
{
  char tmp[24];
  int i = 0;
  int j = 0;
  do
    {
      tmp[i++] = '0' + (int) (n % 10);
      n = n / 10;
    }
  while (n != 0);
  while (i > 0)
    buf[j++] = tmp[--i];
  buf[j] = 0;
  return buf;
}

int
main (int argc, char **argv)
{
  struct sample s = { 0x123456789LL, 21, "sample" };
  struct sample d;
  unsigned long long fact = 1;
  long long neg;
  char a[24];
  char b[24];
  char *words;
  char *line;
  FILE *out;
  int i;
  int bad = 0;

  for (i = 2; i <= 20; i++)
    fact = fact * i;
  if (fact != 2432902008176640000ULL || fact / 1000003ULL != 2432894709492ULL
      || fact % 1000003ULL != 511524ULL)
    bad = bad | 1;
  neg = -(long long) fact / 7;
  if (neg != -347557429739520000LL || (neg >> 40) != -316102LL)
    bad = bad | 2;

  d = doubled (s);
  if (d.big != 0x2468ACF12LL || d.small != 42 || strcmp (d.tag, "Dample") != 0
      || s.tag[0] != 's')
    bad = bad | 4;

  words = malloc (64);
  if (words == 0)
    return 5;
  strcpy (words, "tcc");
  strcat (words, " 0.9.27");
  if (strlen (words) != 10 || strncmp (words + 4, "0.9", 3) != 0
      || strchr (words, '.') != words + 5 || memcmp (words, "tcc ", 4) != 0)
    bad = bad | 8;

  line = malloc (160);
  if (line == 0)
    return 6;
  sprintf (line, "Hello from %s: 20! = %s, doubled %s %d, checks %s\n", words,
           decimal (fact, a), decimal (d.big, b), d.small,
           bad ? "FAILED" : "passed");
  free (words);
  fputs (line, stdout);
  if (argc != 2)
    return 2;
  out = fopen (argv[1], "w");
  if (out == 0)
    return 3;
  fprintf (out, "%s", line);
  if (fclose (out) != 0)
    return 4;
  free (line);
  return bad;
}
