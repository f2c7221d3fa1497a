/* bootchain x86 chain, step sed: strcasecmp, which sed's regcomp.c calls
   (to recognise a UTF-8 locale name) and Mes's C library lacks. ASCII
   only, as the C locale is all there is here. */
#include <ctype.h>

int
strcasecmp (const char *a, const char *b)
{
  const unsigned char *p = (const unsigned char *) a;
  const unsigned char *q = (const unsigned char *) b;
  int c, d;

  do
    {
      c = tolower (*p++);
      d = tolower (*q++);
    }
  while (c == d && c != 0);
  return c - d;
}
