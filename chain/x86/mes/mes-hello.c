/* bootchain x86 chain, step mes-hello: the first C program of the chain,
   compiled and linked by MesCC (GNU Mes 0.24.2) against the C library the
   step mes-libc built. It prints its line and writes the same line to the
   file named by its first argument, which the chain pins. */

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  char *line = "Hello from MesCC: C compiled by Scheme, from a hex0 seed\n";
  int size = strlen (line);
  int fd;
  if (write (1, line, size) != size)
    return 1;
  if (argc != 2)
    return 2;
  fd = open (argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return 3;
  if (write (fd, line, size) != size)
    return 4;
  return 0;
}
